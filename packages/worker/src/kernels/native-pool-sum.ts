// AvgPoolGrad and the bias gradients' Sum on wasm through the native addon (native/pool.h,
// native/reduce.h), in place on the heap; the stock wasm kernels for every case they do not cover.
// In the seed's step at batch 64 the stock kernels took 36 ms (AvgPoolGrad, 3 calls) and 49–89 ms
// (Sum, 25 calls: the wasm Sum transposes NHWC to put the reduced axes last); docs/kernels.md.
// Registered by fast-kernels.ts when the addon loads, and over the WebAssembly SIMD kernels of the
// same signatures (simd/simd-kernels.ts) when it does not.
import {
  util,
  type AvgPoolGradAttrs,
  type KernelConfig,
  type KernelFunc,
  type SumAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { DnnlBinding } from './dnnl/dnnl-addon';
import { runOnHeap, stockWasmKernel } from './heap-access';
import { poolGeometry } from './max-pool-grad';

/** AvgPoolGrad (NHWC, float32) natively; the stock wasm kernel otherwise. */
export function nativeAvgPoolGradConfig(addon: Pick<DnnlBinding, 'avgPoolGrad'>): KernelConfig {
  const fallback = stockWasmKernel('AvgPoolGrad');
  const kernelFunc: KernelFunc = (args) => {
    const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
    const { filterSize, strides, pad } = args.attrs as unknown as AvgPoolGradAttrs;
    const geom = poolGeometry(input, filterSize, strides, pad);
    return (
      (geom && runOnHeap(args.backend, addon.avgPoolGrad, [dy], input.shape.slice(), geom)) ?? fallback(args)
    );
  };
  return { kernelName: 'AvgPoolGrad', backendName: 'wasm', kernelFunc };
}

/**
 * Sum over every axis but the last of a float32 tensor (a bias gradient) natively, with float64
 * sums; the stock wasm kernel for every other Sum.
 */
export function nativeSumConfig(addon: Pick<DnnlBinding, 'channelSum'>): KernelConfig {
  const fallback = stockWasmKernel('Sum');
  const kernelFunc: KernelFunc = (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as SumAttrs;
    const rank = x.shape.length;
    const axes = util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
    const C = x.shape[rank - 1] ?? 0;
    const rows = util.sizeFromShape(x.shape) / Math.max(C, 1);
    const leading = rank >= 2 && axes.length === rank - 1 && axes.every((a, i) => a === i);
    if (!leading || x.dtype !== 'float32' || C === 0 || rows === 0) return fallback(args);
    const outShape = keepDims ? [...x.shape.slice(0, -1).map(() => 1), C] : [C];
    return runOnHeap(args.backend, addon.channelSum, [x], outShape, [rows, C]) ?? fallback(args);
  };
  return { kernelName: 'Sum', backendName: 'wasm', kernelFunc };
}
