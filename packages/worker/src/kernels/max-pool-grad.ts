// MaxPoolGrad as a plain-JS loop over the tensors' memory, for wasm (whose kernel is a slow
// scalar loop: 285 ms of a 4.1 s DenseNet step at batch 64) and cpu; on wasm the same loop in C++
// (native/pool.h) where the native addon loads. Routes each output's gradient
// to the first maximum of its window in row-major order, as tfjs-backend-cpu does.
import {
  backend_util,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type MaxPoolGradAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { DnnlBinding } from './dnnl/dnnl-addon';
import { runOnHeap, withFloatViews } from './heap-access';

export function makeMaxPoolGrad(backendName: string): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
    const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as MaxPoolGradAttrs;
    const info = backend_util.computePool2DInfo(
      input.shape as [number, number, number, number],
      filterSize,
      strides,
      1,
      pad,
      dimRoundingMode,
    );
    const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
    const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = info;
    const { top, left } = info.padInfo;
    const {
      out,
      outView: dx,
      views,
    } = withFloatViews(backendName, backend as KernelBackend, input.shape.slice(), [dy, input]);
    const [g, x] = views as [Float32Array, Float32Array];
    const best = new Float32Array(C);
    const bestAt = new Int32Array(C);
    for (let b = 0; b < B; b++) {
      for (let oh = 0; oh < OH; oh++) {
        const h0 = oh * sh - top;
        for (let ow = 0; ow < OW; ow++) {
          const w0 = ow * sw - left;
          best.fill(-Infinity);
          bestAt.fill(-1);
          for (let kh = 0; kh < KH; kh++) {
            const h = h0 + kh;
            if (h < 0 || h >= H) continue;
            for (let kw = 0; kw < KW; kw++) {
              const w = w0 + kw;
              if (w < 0 || w >= W) continue;
              const base = ((b * H + h) * W + w) * C;
              for (let c = 0; c < C; c++) {
                const v = x[base + c]!;
                if (v > best[c]!) {
                  best[c] = v;
                  bestAt[c] = base + c;
                }
              }
            }
          }
          const gBase = ((b * OH + oh) * OW + ow) * C;
          for (let c = 0; c < C; c++) {
            const at = bestAt[c]!;
            if (at >= 0) dx[at]! += g[gBase + c]!;
          }
        }
      }
    }
    return out;
  };
}

export function maxPoolGradConfig(backendName: string): KernelConfig {
  return { kernelName: 'MaxPoolGrad', backendName, kernelFunc: makeMaxPoolGrad(backendName) };
}

/** The same kernel on wasm through the native addon, in place on the heap; the JS loop otherwise. */
export function nativeMaxPoolGradConfig(addon: Pick<DnnlBinding, 'maxPoolGrad'>): KernelConfig {
  const js = makeMaxPoolGrad('wasm');
  const kernelFunc: KernelFunc = (args) => {
    const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
    const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as MaxPoolGradAttrs;
    const geom = poolGeometry(input, filterSize, strides, pad, dimRoundingMode);
    return (
      (geom && runOnHeap(args.backend, addon.maxPoolGrad, [dy, input], input.shape.slice(), geom)) ?? js(args)
    );
  };
  return { kernelName: 'MaxPoolGrad', backendName: 'wasm', kernelFunc };
}

/**
 * The native pooling kernels' geom [B, H, W, C, OH, OW, KH, KW, sh, sw, top, left] for a float32
 * NHWC `input`, or undefined where they do not apply (another rank or dtype, an empty tensor, an
 * image of 2^31 elements or more: pool.h's indices are int32).
 */
export function poolGeometry(
  input: TensorInfo,
  filterSize: [number, number] | number,
  strides: [number, number] | number,
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): number[] | undefined {
  if (input.shape.length !== 4 || input.dtype !== 'float32') return undefined;
  const i = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const geom = [
    i.batchSize,
    i.inHeight,
    i.inWidth,
    i.inChannels,
    i.outHeight,
    i.outWidth,
    i.filterHeight,
    i.filterWidth,
    i.strideHeight,
    i.strideWidth,
    i.padInfo.top,
    i.padInfo.left,
  ];
  if (geom.slice(0, 10).some((v) => v <= 0) || i.inHeight * i.inWidth * i.inChannels >= 2 ** 31)
    return undefined;
  return geom;
}
