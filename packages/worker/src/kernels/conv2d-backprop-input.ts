// Conv2DBackpropInput (the input gradient of conv2d) as one forward conv2d, which backends run fast
// (XNNPACK on wasm): dX = conv(dilate(dY, stride), rot180(W) with in/out channels swapped), with
// padding chosen so the result has the input's shape. The stock wasm kernel is a naive loop.
// Falls back to the backend's own kernel for layouts it does not cover.
import {
  getKernel,
  type Conv2DBackpropInputAttrs,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { inputGradInfo } from './conv-info';
import { withFloatViews } from './heap-access';
import { KernelScope } from './kernel-scope';

/**
 * rot180 over (KH, KW) and in/out channels swapped, [KH,KW,Ci,Co] → [KH,KW,Co,Ci], in one JS pass:
 * the backends' Reverse + Transpose took ~2 ms for a 3×3×160×32 filter, more than the conv itself at
 * small batches (docs/benchmarks.md).
 */
function rotateSwap(backendName: string, backend: KernelBackend, filter: TensorInfo): TensorInfo {
  const [KH, KW, Ci, Co] = filter.shape as [number, number, number, number];
  const { out, outView: o, views } = withFloatViews(backendName, backend, [KH, KW, Co, Ci], [filter]);
  const w = views[0]!;
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      const src = ((KH - 1 - kh) * KW + (KW - 1 - kw)) * Ci * Co;
      const dst = (kh * KW + kw) * Co * Ci;
      for (let ci = 0; ci < Ci; ci++) {
        for (let co = 0; co < Co; co++) o[dst + co * Ci + ci] = w[src + ci * Co + co]!;
      }
    }
  }
  return out;
}

export function makeConv2DBackpropInput(backendName: string, fallback?: KernelFunc): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const { dataFormat } = attrs as unknown as Conv2DBackpropInputAttrs;
    const info = inputGradInfo(filter, attrs as unknown as Conv2DBackpropInputAttrs);
    const { batchSize: B, inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, outChannels: Co } = info;
    const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = info;
    const { top, left } = info.padInfo;
    // Full-correlation padding of the (dilated) dY; see docs/kernels.md for the derivation.
    const Hd = (OH - 1) * sh + 1;
    const Wd = (OW - 1) * sw + 1;
    const padTop = KH - 1 - top;
    const padLeft = KW - 1 - left;
    const padBottom = H - Hd - padTop + KH - 1;
    const padRight = W - Wd - padLeft + KW - 1;
    const covered = dataFormat !== 'NCHW' && Math.min(padTop, padLeft, padBottom, padRight) >= 0;
    if (!covered) {
      if (fallback === undefined) throw new Error('Conv2DBackpropInput: NCHW or padding wider than the filter is not supported');
      return fallback(args);
    }
    const s = new KernelScope(backend as KernelBackend, backendName);
    let d = dy;
    if (sh > 1 || sw > 1) {
      // Dilate: [B,OH,OW,Co] → [B,OH,1,OW,1,Co] → zero-pad to [B,OH,sh,OW,sw,Co] → [B,OH·sh,OW·sw,Co];
      // the trailing sh−1 rows / sw−1 columns are cut by narrowing the conv's bottom/right padding.
      const e = s.reshape(dy, [B, OH, 1, OW, 1, Co]);
      const p = s.run('PadV2', { x: e }, { paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0 });
      d = s.reshape(p, [B, OH * sh, OW * sw, Co]);
    }
    const extraH = d.shape[1]! - Hd;
    const extraW = d.shape[2]! - Wd;
    if (padBottom < extraH || padRight < extraW) {
      d = s.run('Slice', { x: d }, { begin: [0, 0, 0, 0], size: [B, Hd, Wd, Co] });
    }
    const cutH = d.shape[1]! - Hd;
    const cutW = d.shape[2]! - Wd;
    // rot180 over (KH,KW) and swap in/out channels: [KH,KW,Ci,Co] → [KH,KW,Co,Ci].
    const wr = s.adopt(rotateSwap(backendName, backend as KernelBackend, filter));
    const dx = s.run(
      'Conv2D',
      { x: d, filter: wr },
      {
        strides: [1, 1],
        pad: [[0, 0], [padTop, padBottom - cutH], [padLeft, padRight - cutW], [0, 0]],
        dataFormat: 'NHWC',
        dilations: [1, 1],
        dimRoundingMode: undefined,
      } as unknown as NamedAttrMap,
    );
    return s.finish(dx);
  };
}

export function conv2DBackpropInputConfig(backendName: string): KernelConfig {
  const stock = getKernel('Conv2DBackpropInput', backendName)?.kernelFunc;
  return { kernelName: 'Conv2DBackpropInput', backendName, kernelFunc: makeConv2DBackpropInput(backendName, stock) };
}
