// Copies on wasm through the native addon (native/channels.h), or where it is not built the
// WebAssembly SIMD kernels of the same signatures (simd/simd-kernels.ts). SplitV along the last axis: one pass
// over the rows instead of tfjs-backend-wasm's general Slice per output; it is the gradient of every
// concat along the channels (each DenseNet block's). Slice of a tensor of rank ≤ 4: one memcpy per
// contiguous run; the gradient of a padding (the seed's stem), 140 ms of the seed step at batch 64
// in tfjs-backend-wasm's Slice. Other axes, dtypes, empty tensors and the threaded build's shared
// heap use the kernels they replace.
import {
  backend_util,
  getKernel,
  util,
  type KernelConfig,
  type KernelFunc,
  slice_util,
  type SliceAttrs,
  type SplitVAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { DnnlBinding } from './dnnl/dnnl-addon';
import type { WasmHeapBackend } from './heap-access';

export function nativeSplitVConfig(addon: Pick<DnnlBinding, 'splitChannels'>): KernelConfig {
  const previous = getKernel('SplitV', 'wasm')?.kernelFunc;
  if (previous === undefined)
    throw new Error('nativeSplitVConfig: the wasm backend has no SplitV kernel to fall back to');
  const kernelFunc: KernelFunc = (args) => {
    const x = (args.inputs as { x: TensorInfo }).x;
    const { numOrSizeSplits, axis } = args.attrs as unknown as SplitVAttrs;
    const b = args.backend as unknown as WasmHeapBackend;
    const rank = x.shape.length;
    const $axis = util.parseAxisParam(axis, x.shape)[0]!;
    if (
      $axis !== rank - 1 ||
      rank < 2 ||
      x.dtype !== 'float32' ||
      !(b.wasm.HEAPU8.buffer instanceof ArrayBuffer)
    )
      return previous(args);
    const sizes = backend_util.prepareSplitSize(x, numOrSizeSplits, $axis);
    const rows = util.sizeFromShape(x.shape) / x.shape[$axis]!;
    if (rows === 0) return previous(args);
    // Outputs first: an allocation can grow the heap, which replaces its ArrayBuffer.
    const outs = sizes.map((s) => b.makeOutput([...x.shape.slice(0, -1), s], 'float32'));
    const offset = (t: TensorInfo) => b.dataIdMap.get(t.dataId)!.memoryOffset;
    addon.splitChannels(
      b.wasm.HEAPU8.buffer,
      offset(x),
      Float64Array.from(outs, offset),
      Int32Array.from(sizes),
      rows,
    );
    return outs;
  };
  return { kernelName: 'SplitV', backendName: 'wasm', kernelFunc };
}

export function nativeSliceConfig(addon: Pick<DnnlBinding, 'slice4'>): KernelConfig {
  const previous = getKernel('Slice', 'wasm')?.kernelFunc;
  if (previous === undefined)
    throw new Error('nativeSliceConfig: the wasm backend has no Slice kernel to fall back to');
  const kernelFunc: KernelFunc = (args) => {
    const x = (args.inputs as { x: TensorInfo }).x;
    const b = args.backend as unknown as WasmHeapBackend;
    const rank = x.shape.length;
    if (rank < 1 || rank > 4 || x.dtype !== 'float32' || !(b.wasm.HEAPU8.buffer instanceof ArrayBuffer))
      return previous(args);
    const { begin, size } = args.attrs as unknown as SliceAttrs;
    const [$begin, $size] = slice_util.parseSliceParams(x as never, begin, size) as [number[], number[]];
    if ($size.some((s) => s <= 0)) return previous(args);
    // As 4-D: leading axes of size 1.
    const as4 = (a: number[], lead: number) =>
      Int32Array.from([...new Array<number>(4 - rank).fill(lead), ...a]);
    const out = b.makeOutput($size, 'float32');
    const offset = (t: TensorInfo) => b.dataIdMap.get(t.dataId)!.memoryOffset;
    addon.slice4(
      b.wasm.HEAPU8.buffer,
      offset(x),
      offset(out),
      as4(x.shape, 1),
      as4($begin, 0),
      as4($size, 1),
    );
    return out;
  };
  return { kernelName: 'Slice', backendName: 'wasm', kernelFunc };
}

/** Concat along the last axis: the reverse of the channel split, one pass over the rows. */
export function nativeConcatConfig(addon: Pick<DnnlBinding, 'joinChannels'>): KernelConfig {
  const previous = getKernel('Concat', 'wasm')?.kernelFunc;
  if (previous === undefined)
    throw new Error('nativeConcatConfig: the wasm backend has no Concat kernel to fall back to');
  const kernelFunc: KernelFunc = (args) => {
    const parts = args.inputs as unknown as TensorInfo[];
    const b = args.backend as unknown as WasmHeapBackend;
    const first = parts[0];
    if (first === undefined || !(b.wasm.HEAPU8.buffer instanceof ArrayBuffer)) return previous(args);
    const rank = first.shape.length;
    const $axis = util.parseAxisParam((args.attrs as unknown as { axis: number }).axis, first.shape)[0]!;
    const lead = first.shape.slice(0, -1);
    const same = (t: TensorInfo) =>
      t.dtype === 'float32' && t.shape.length === rank && t.shape.slice(0, -1).every((d, i) => d === lead[i]);
    const rows = util.sizeFromShape(lead);
    if (rank < 2 || $axis !== rank - 1 || rows === 0 || !parts.every(same)) return previous(args);
    const sizes = parts.map((t) => t.shape[rank - 1]!);
    const out = b.makeOutput([...lead, sizes.reduce((a, c) => a + c, 0)], 'float32');
    const offset = (t: TensorInfo) => b.dataIdMap.get(t.dataId)!.memoryOffset;
    addon.joinChannels(
      b.wasm.HEAPU8.buffer,
      offset(out),
      Float64Array.from(parts, offset),
      Int32Array.from(sizes),
      rows,
    );
    return out;
  };
  return { kernelName: 'Concat', backendName: 'wasm', kernelFunc };
}
