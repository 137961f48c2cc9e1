#!/usr/bin/python3
"""The other half of tools/grad-check.ts: the seed DenseNet in PyTorch (the anchor's architecture,
../shared/anchors/torch_densenet.py, d2l 7.7 with global max pooling) on the weights, batch and labels
tfjs-ddp wrote to DIR, in float64 and in float32, training mode (batch statistics), mean softmax
cross-entropy. Compares tfjs-ddp's loss and gradients (float32) with the float64 answer, and PyTorch's
own float32 answer with it: per tensor, max |a - b| / max |b| against the float64 b. Also float64 with
every conv's inputs rounded to float16, the scale for TFJS_DDP_WEBGPU_F16=1. Prints one JSON line.
Usage: grad_check_torch.py DIR"""
import json
import os
import sys

import numpy as np
import torch
from torch import nn


def conv_block(i, o):
    return nn.Sequential(nn.BatchNorm2d(i), nn.ReLU(), nn.Conv2d(i, o, 3, padding=1))


class DenseBlock(nn.Module):
    def __init__(self, n, i, o):
        super().__init__()
        self.net = nn.Sequential(*[conv_block(o * k + i, o) for k in range(n)])

    def forward(self, x):
        for b in self.net:
            x = torch.cat((x, b(x)), 1)
        return x


def transition(i, o):
    return nn.Sequential(nn.BatchNorm2d(i), nn.ReLU(), nn.Conv2d(i, o, 1), nn.AvgPool2d(2, 2))


def densenet():
    b1 = nn.Sequential(nn.Conv2d(1, 64, 7, 2, 3), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
    nc, g, blks = 64, 32, []
    for i, n in enumerate([4, 4, 4, 4]):
        blks.append(DenseBlock(n, nc, g))
        nc += n * g
        if i != 3:
            blks.append(transition(nc, nc // 2))
            nc //= 2
    return nn.Sequential(b1, *blks, nn.BatchNorm2d(nc), nn.ReLU(), nn.AdaptiveMaxPool2d((1, 1)), nn.Flatten(), nn.Linear(nc, 10))


def to_torch(a):
    """tfjs layout -> PyTorch's: conv [KH, KW, Ci, Co] -> [Co, Ci, KH, KW]; dense [in, out] -> [out, in]."""
    if a.ndim == 4:
        return a.transpose(3, 2, 0, 1)
    if a.ndim == 2:
        return a.T
    return a


def to_tfjs(a):
    if a.ndim == 4:
        return a.transpose(2, 3, 1, 0)
    if a.ndim == 2:
        return a.T
    return a


def rel(a, b):
    """max |a - b| / max |b|, b the reference."""
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


class F16InputsConv(torch.autograd.Function):
    """A conv whose forward rounds x and the filter to float16 and computes in the tensors' dtype, and
    whose backward uses the unrounded x and filter: TFJS_DDP_WEBGPU_F16's scheme on webgpu, modelled."""

    @staticmethod
    def forward(ctx, x, w, b, stride, padding):
        ctx.save_for_backward(x, w)
        ctx.conf = (stride, padding, b is not None)
        r = lambda t: t.half().to(t.dtype)
        return nn.functional.conv2d(r(x), r(w), b, stride, padding)

    @staticmethod
    def backward(ctx, dy):
        x, w = ctx.saved_tensors
        stride, padding, bias = ctx.conf
        dx = torch.nn.grad.conv2d_input(x.shape, w, dy, stride, padding)
        dw = torch.nn.grad.conv2d_weight(x, w.shape, dy, stride, padding)
        return dx, dw, dy.sum((0, 2, 3)) if bias else None, None, None


def run(dtype, weights, pixels, labels, f16_conv_inputs=False):
    torch.manual_seed(0)
    net = densenet().to(dtype)
    if f16_conv_inputs:
        for c in net.modules():
            if isinstance(c, nn.Conv2d):
                c.forward = lambda x, c=c: F16InputsConv.apply(x, c.weight, c.bias, c.stride, c.padding)
    params = list(net.parameters())
    if len(params) != len(weights):
        raise SystemExit(f"grad_check_torch: {len(weights)} tfjs variables, {len(params)} PyTorch parameters: not the seed DenseNet")
    with torch.no_grad():
        for p, w in zip(params, weights):
            t = to_torch(w)
            if tuple(p.shape) != t.shape:
                raise SystemExit(f"grad_check_torch: shape {t.shape} against PyTorch's {tuple(p.shape)}: not the seed DenseNet")
            p.copy_(torch.from_numpy(np.ascontiguousarray(t)).to(dtype))
    net.train()
    x = torch.from_numpy(pixels).to(dtype).permute(0, 3, 1, 2)
    loss = nn.functional.cross_entropy(net(x), torch.from_numpy(labels))
    loss.backward()
    return float(loss), [to_tfjs(p.grad.double().numpy()) for p in params]


def main():
    d = sys.argv[1]
    m = json.load(open(os.path.join(d, "manifest.json")))
    shapes = [v["shape"] for v in m["variables"]]
    sizes = [int(np.prod(s)) for s in shapes]
    flat = np.fromfile(os.path.join(d, "weights.bin"), dtype=np.float32).astype(np.float64)
    gflat = np.fromfile(os.path.join(d, "grads.bin"), dtype=np.float32).astype(np.float64)
    offsets = np.cumsum([0] + sizes)
    weights = [flat[offsets[i]:offsets[i + 1]].reshape(s) for i, s in enumerate(shapes)]
    ours = [gflat[offsets[i]:offsets[i + 1]].reshape(s) for i, s in enumerate(shapes)]
    b, s = m["batch"], m["size"]
    pixels = np.fromfile(os.path.join(d, "pixels.bin"), dtype=np.float32).reshape(b, s, s, 1).astype(np.float64)
    labels = np.array(m["labels"], dtype=np.int64)
    torch.set_num_threads(1)
    loss64, g64 = run(torch.float64, weights, pixels, labels)
    loss32, g32 = run(torch.float32, weights, pixels.astype(np.float32), labels)
    loss16, g16 = run(torch.float64, weights, pixels, labels, f16_conv_inputs=True)
    # Every conv bias here feeds only BatchNorms (directly or through a concat), which remove a
    # per-channel shift: its exact gradient is zero and any float32 answer is rounding noise. Such
    # tensors (largest float64 gradient under 1e-6 of the largest of all) are compared on the
    # scale of all gradients; the others each on their own.
    scale = max(float(np.max(np.abs(r))) for r in g64)
    real = [i for i, r in enumerate(g64) if np.max(np.abs(r)) >= 1e-6 * scale]
    zero = [i for i in range(len(g64)) if i not in real]

    def summary(grads):
        errs = [rel(grads[i], g64[i]) for i in real]
        worst = real[int(np.argmax(errs))]
        noise = max((float(np.max(np.abs(grads[i] - g64[i]))) / scale for i in zero), default=0.0)
        return {"max": max(errs), "median": float(np.median(errs)), "worst": m["variables"][worst]["name"], "zero_gradients_noise": noise}

    print(json.dumps({
        "loss_tfjs": m["loss"],
        "loss_float64": loss64,
        "loss_rel_tfjs": abs(m["loss"] - loss64) / abs(loss64),
        "loss_rel_torch_float32": abs(loss32 - loss64) / abs(loss64),
        "grad_rel_tfjs": summary(ours),
        "grad_rel_torch_float32": summary(g32),
        # For scale against TFJS_DDP_WEBGPU_F16=1: float64 with each conv's x and filter rounded to float16.
        "loss_rel_torch_f16_conv_inputs": abs(loss16 - loss64) / abs(loss64),
        "grad_rel_torch_f16_conv_inputs": summary(g16),
        "zero_gradients": len(zero),
        "variables": len(shapes),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
