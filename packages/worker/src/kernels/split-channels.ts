// SplitV along the last axis on wasm through the native addon (native/channels.h): one pass over
// the rows instead of tfjs-backend-wasm's general Slice per output. It is the gradient of every
// concat along the channels (each DenseNet block's), ≈ 0.3 s of the seed step at batch 64 before
// (docs/benchmarks.md). Other axes, dtypes and the threaded build's shared heap use the kernel it
// replaces.
import {
  backend_util,
  getKernel,
  util,
  type DataId,
  type KernelConfig,
  type KernelFunc,
  type SplitVAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { DnnlBinding } from './dnnl/dnnl-addon';

interface WasmInternals {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(id: DataId): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
}

export function nativeSplitVConfig(addon: Pick<DnnlBinding, 'splitChannels'>): KernelConfig {
  const previous = getKernel('SplitV', 'wasm')?.kernelFunc;
  if (previous === undefined)
    throw new Error('nativeSplitVConfig: the wasm backend has no SplitV kernel to fall back to');
  const kernelFunc: KernelFunc = (args) => {
    const x = (args.inputs as { x: TensorInfo }).x;
    const { numOrSizeSplits, axis } = args.attrs as unknown as SplitVAttrs;
    const b = args.backend as unknown as WasmInternals;
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
