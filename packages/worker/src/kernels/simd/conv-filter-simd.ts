// Conv2DBackpropFilter on the wasm backend without the native addon: conv.wat's SIMD kernel, in
// place on the heap, over the input (or a zero-padded copy of it where the conv pads). It replaces
// conv2d-backprop-filter.ts' strategies, which transpose x and dY and run XNNPACK's forward conv or
// product on them (measurements in docs/benchmarks.md); shapes it does not cover keep those.
import {
  backend_util,
  type Conv2DBackpropFilterAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { filterGradInfo } from '../conv-info';
import { makeConv2DBackpropFilter } from '../conv2d-backprop-filter';
import { simdKernels, type SimdKernels } from './simd-kernels';

/** About this many output positions (b, oh, ow) per pass over the tiles, so that the x and dY lines a pass reads stay in L1 for the next tile (64 ran 8-13% faster than 256 on the DenseNet layers, 24-384 tried). */
const BLOCK_POSITIONS = 64;

interface Outputs {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
}

/**
 * Runs `run` on x as conv.wat reads it: its heap offset, and the elements per row and rows per image
 * of x itself where the conv does not pad and `R` (KW·Ci) is a multiple of 4, else of a zero-padded
 * copy of the rows and columns the conv reads, 16 bytes longer for the last tile of 4 (malloc'd on
 * the heap for the call and freed after).
 */
function onConvInput(
  k: SimdKernels,
  x: TensorInfo,
  info: backend_util.Conv2DInfo,
  run: (at: number, rowElems: number, rows: number) => void,
): void {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Ci, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = info;
  const { top, left, bottom, right } = info.padInfo;
  if (top === 0 && left === 0 && bottom === 0 && right === 0 && (KW * Ci) % 4 === 0) {
    run(k.offset(x), W * Ci, H);
    return;
  }
  const Hp = (OH - 1) * sh + KH;
  const Wp = (OW - 1) * sw + KW;
  const bytes = 4 * B * Hp * Wp * Ci + 16;
  const padded = k.malloc(bytes);
  if (padded === 0)
    throw new Error(`wasm heap exhausted: a convolution needs ${bytes} bytes for its padded input`);
  try {
    new Float32Array(k.heap(), padded, bytes / 4).fill(0);
    const rows = Math.min(H, Hp - top);
    const cols = Math.min(W, Wp - left);
    if (rows > 0 && cols > 0) {
      for (let b = 0; b < B; b++) {
        const src = k.offset(x) + 4 * b * H * W * Ci;
        const dst = padded + 4 * ((b * Hp + top) * Wp + left) * Ci;
        k.exports.copyRows(src, 4 * W * Ci, dst, 4 * Wp * Ci, 4 * cols * Ci, rows);
      }
    }
    run(padded, Wp * Ci, Hp);
  } finally {
    k.free(padded);
  }
}

/** Whether conv.wat covers the conv: output channels a multiple of 8, no dilation, nothing empty. */
function simdCovers(info: backend_util.Conv2DInfo): boolean {
  const { batchSize: B, inChannels: Ci, outChannels: Co, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: KH, filterWidth: KW, dilationHeight, dilationWidth } = info;
  return Co % 8 === 0 && dilationHeight === 1 && dilationWidth === 1 && B * OH * OW * Ci * KH * KW > 0;
}

/** dW of an NHWC conv, computed by conv.wat; null where it does not apply (simdCovers). */
export function convFilterGradSimd(
  backend: unknown,
  x: TensorInfo,
  dy: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo | null {
  const k = simdKernels(backend);
  if (k === null || !simdCovers(info)) return null;
  const { batchSize: B, inChannels: Ci, outChannels: Co, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = info;
  const out = (backend as Outputs).makeOutput([KH, KW, Ci, Co], 'float32');
  const block = Math.max(1, Math.round(BLOCK_POSITIONS / OW));
  onConvInput(k, x, info, (at, rowElems, rows) =>
    k.exports.convFilterGrad(
      at,
      k.offset(dy),
      k.offset(out),
      B,
      OH,
      OW,
      Co,
      KH,
      KW * Ci,
      sh,
      4 * sw * Ci,
      4 * rowElems,
      4 * rows * rowElems,
      block,
    ),
  );
  return out;
}

/** Conv2DBackpropFilter for wasm: conv.wat's kernel where it applies, else conv2d-backprop-filter.ts'. */
export function conv2DBackpropFilterSimdConfig(): KernelConfig {
  const fallback: KernelFunc = makeConv2DBackpropFilter('wasm');
  return {
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
      const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
      if (attrs.dataFormat !== 'NCHW' && x.dtype === 'float32' && dy.dtype === 'float32') {
        const dw = convFilterGradSimd(args.backend, x, dy, filterGradInfo(x, attrs));
        if (dw !== null) return dw;
      }
      return fallback(args);
    },
  };
}
