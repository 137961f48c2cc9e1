// Add, Equal and PadV2 on wasm through the native addon (native/elementwise.h), in place on the
// heap, for float32 tensors of up to 4 axes; the stock wasm kernels for everything else. In the
// seed's step at batch 64 the stock kernels took 22.6 ms (Add, 144 calls: the gradient sums of
// tensors read twice, the bias add of the stem), 11.8 ms (PadV2, 2 calls) and 10.6 ms (Equal,
// 2 calls: the global max pool's gradient mask); docs/kernels.md. Registered by fast-kernels.ts.
import {
  backend_util,
  type KernelConfig,
  type KernelFunc,
  type PadV2Attrs,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { DnnlBinding, HeapKernel } from './dnnl/dnnl-addon';
import { runOnHeap, stockWasmKernel } from './heap-access';

/** A shape as 4 axes, with leading 1s. */
function as4(shape: number[]): number[] {
  return [...new Array<number>(4 - shape.length).fill(1), ...shape];
}

/** A float32 binary kernel with broadcasting, natively where every shape has at most 4 axes and no 0. */
function binaryConfig(
  kernelName: 'Add' | 'Equal',
  kernel: HeapKernel,
  outDtype: 'float32' | 'bool',
): KernelConfig {
  const fallback = stockWasmKernel(kernelName);
  const kernelFunc: KernelFunc = (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length > 4 || b.shape.length > 4)
      return fallback(args);
    const out = backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    if (out.some((d) => d === 0)) return fallback(args);
    const geom = [...as4(a.shape), ...as4(b.shape), ...as4(out)];
    return runOnHeap(args.backend, kernel, [a, b], out, geom, outDtype) ?? fallback(args);
  };
  return { kernelName, backendName: 'wasm', kernelFunc };
}

export function nativeAddConfig(addon: Pick<DnnlBinding, 'add4'>): KernelConfig {
  return binaryConfig('Add', addon.add4, 'float32');
}

export function nativeEqualConfig(addon: Pick<DnnlBinding, 'equal4'>): KernelConfig {
  return binaryConfig('Equal', addon.equal4, 'bool');
}

/** PadV2 of a float32 tensor of 1 to 4 axes natively; the stock kernel otherwise. */
export function nativePadConfig(addon: Pick<DnnlBinding, 'pad4'>): KernelConfig {
  const fallback = stockWasmKernel('PadV2');
  const kernelFunc: KernelFunc = (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { paddings, constantValue } = args.attrs as unknown as PadV2Attrs;
    const rank = x.shape.length;
    if (x.dtype !== 'float32' || rank < 1 || rank > 4 || x.shape.some((d) => d === 0)) return fallback(args);
    const before = paddings.map((p) => p[0]);
    const out = x.shape.map((d, i) => d + paddings[i]![0] + paddings[i]![1]);
    if ([...before, ...paddings.map((p) => p[1])].some((p) => p < 0)) return fallback(args);
    const bits = new Int32Array(Float32Array.of(constantValue).buffer)[0]!;
    const geom = [...as4(x.shape), ...new Array<number>(4 - rank).fill(0), ...before, ...as4(out), bits];
    return runOnHeap(args.backend, addon.pad4, [x], out, geom) ?? fallback(args);
  };
  return { kernelName: 'PadV2', backendName: 'wasm', kernelFunc };
}
