// Conv2DBackpropFilter (the filter gradient of conv2d) built from a backend's fast forward kernels,
// for backends that lack it (wasm) or run it slowly (cpu, ~80× its forward conv). Registered by
// fast-kernels.ts. Two strategies, chosen by filter size (measurements in docs/kernels.md):
//
// - 1×1 filters: dW = Xᵀ·dY, one matrix product [Ci × B·OH·OW]·[B·OH·OW × Co] after transposing x.
//   Both operands are plain row-major: XNNPACK's product with a transposed-operand flag runs ~10×
//   slower, and the right operand (dY) is the one it packs.
// - larger filters: the "batch as channels" convolution. With x as [Ci, Hp, Wp, B] (images of
//   which Ci form a batch, B channels) and dY as a filter [OH, OW, B, Co] dilated by the stride,
//   dW[kh,kw,ci,co] = Σ_{b,oh,ow} x[ci, kh + s·oh, kw + s·ow, b] · dY[oh, ow, b, co] is a forward
//   conv with output [Ci, KH, KW, Co]: 1.2–1.7× the forward conv's time instead of 10×.
import {
  type Conv2DBackpropFilterAttrs,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { filterGradInfo } from './conv-info';
import { KernelScope } from './kernel-scope';

export function makeConv2DBackpropFilter(backendName: string): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const a = attrs as unknown as Conv2DBackpropFilterAttrs;
    if (a.dataFormat === 'NCHW') throw new Error('Conv2DBackpropFilter: only NHWC is supported');
    const info = filterGradInfo(x, a);
    const { batchSize: B, inChannels: Ci, outChannels: Co, outHeight: OH, outWidth: OW } = info;
    const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = info;
    const { top, left, bottom, right } = info.padInfo;
    const s = new KernelScope(backend as KernelBackend, backendName);

    if (KH === 1 && KW === 1) {
      let xs = x;
      if (top > 0 || left > 0 || bottom > 0 || right > 0) {
        xs = s.run('PadV2', { x }, { paddings: [[0, 0], [top, bottom], [left, right], [0, 0]], constantValue: 0 });
      }
      if (sh > 1 || sw > 1 || xs.shape[1] !== OH || xs.shape[2] !== OW) {
        xs = s.run('StridedSlice', { x: xs }, {
          begin: [0, 0, 0, 0],
          end: [B, (OH - 1) * sh + 1, (OW - 1) * sw + 1, Ci],
          strides: [1, sh, sw, 1],
          beginMask: 0,
          endMask: 0,
          ellipsisMask: 0,
          newAxisMask: 0,
          shrinkAxisMask: 0,
        });
      }
      const rows = B * OH * OW;
      const xT = s.transpose(s.reshape(xs, [rows, Ci]), [1, 0]);
      const prod = s.run('BatchMatMul', { a: s.reshape(xT, [1, Ci, rows]), b: s.reshape(dy, [1, rows, Co]) }, { transposeA: false, transposeB: false });
      return s.finish(s.reshape(prod, [1, 1, Ci, Co]));
    }

    const xT = s.transpose(x, [3, 1, 2, 0]); // [Ci, H, W, B]
    const f = s.transpose(dy, [1, 2, 0, 3]); // [OH, OW, B, Co]
    const conv = s.run('Conv2D', { x: xT, filter: f }, {
      strides: [1, 1],
      pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
      dataFormat: 'NHWC',
      dilations: [sh, sw],
      dimRoundingMode: undefined,
    } as unknown as NamedAttrMap); // [Ci, ≥KH, ≥KW, Co]
    const exact = conv.shape[1] === KH && conv.shape[2] === KW ? conv : s.run('Slice', { x: conv }, { begin: [0, 0, 0, 0], size: [Ci, KH, KW, Co] });
    return s.finish(s.transpose(exact, [1, 2, 0, 3]));
  };
}

export function conv2DBackpropFilterConfig(backendName: string): KernelConfig {
  return { kernelName: 'Conv2DBackpropFilter', backendName, kernelFunc: makeConv2DBackpropFilter(backendName) };
}
