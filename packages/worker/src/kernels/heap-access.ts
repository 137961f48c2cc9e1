// Direct Float32Array access to tensor memory for kernels written in plain JS, on the wasm backend
// (views into the wasm heap) and the cpu backend (its JS arrays). Used by max-pool-grad.ts.
import {
  getKernel,
  type DataId,
  type KernelBackend,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';

interface WasmLike {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
}
interface CpuLike {
  data: { get(id: object): { values: Float32Array } | undefined };
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): TensorInfo;
}

/**
 * A view of float32 `t`'s memory where the backend keeps it on the host: the wasm heap (valid until
 * the heap grows: use it before anything allocates) or the cpu backend's own array; null elsewhere.
 */
export function floatView(backendName: string, backend: unknown, t: TensorInfo): Float32Array | null {
  if (backendName === 'wasm') return (backend as WasmLike).typedArrayFromHeap(t);
  if (backendName === 'cpu') {
    const values: unknown = (backend as CpuLike).data.get(t.dataId)?.values;
    return values instanceof Float32Array ? values : null;
  }
  return null;
}

/**
 * Allocates a zeroed float32 output and returns it with views of it and of `inputs`. On wasm the
 * output is allocated first: allocation can grow the heap, which detaches older views.
 */
export function withFloatViews(
  backendName: string,
  backend: KernelBackend,
  outShape: number[],
  inputs: TensorInfo[],
): { out: TensorInfo; outView: Float32Array; views: Float32Array[] } {
  if (backendName === 'wasm') {
    const b = backend as unknown as WasmLike;
    const out = b.makeOutput(outShape, 'float32');
    const outView = b.typedArrayFromHeap(out);
    outView.fill(0);
    return { out, outView, views: inputs.map((t) => floatView(backendName, b, t)!) };
  }
  if (backendName === 'cpu') {
    const b = backend as unknown as CpuLike;
    const outView = new Float32Array(outShape.reduce((a, c) => a * c, 1));
    const out = b.makeTensorInfo(outShape, 'float32', outView);
    return { out, outView, views: inputs.map((t) => floatView(backendName, b, t)!) };
  }
  throw new Error(`withFloatViews: backend ${backendName} is not supported`);
}

/** What native kernels read of tfjs-backend-wasm 4.22's backend: the heap, tensors' offsets, outputs. */
export interface WasmHeapBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(id: DataId): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: 'float32' | 'bool'): TensorInfo;
}

/**
 * Runs a native heap kernel (dnnl-addon.ts' HeapKernel) on float32 `inputs`, allocating one output
 * of `outShape` (float32, or bool: a byte per element) first (allocation can grow the heap and replace its buffer), and returns the output.
 * Undefined when the heap's buffer is not a plain ArrayBuffer (a threaded build): use the fallback.
 */
export function runOnHeap(
  backend: unknown,
  kernel: (heap: ArrayBuffer, offsets: Float64Array, geom: Int32Array) => void,
  inputs: TensorInfo[],
  outShape: number[],
  geom: ArrayLike<number>,
  outDtype: 'float32' | 'bool' = 'float32',
): TensorInfo | undefined {
  const b = backend as WasmHeapBackend;
  if (!(b.wasm.HEAPU8.buffer instanceof ArrayBuffer)) return undefined;
  const out = b.makeOutput(outShape, outDtype);
  const heap = b.wasm.HEAPU8.buffer as ArrayBuffer;
  const offset = (t: TensorInfo) => b.dataIdMap.get(t.dataId)!.memoryOffset;
  kernel(heap, Float64Array.from([...inputs, out], offset), Int32Array.from(geom));
  return out;
}

/** The wasm backend's own kernel `kernelName`, which a native one falls back to. */
export function stockWasmKernel(kernelName: string): KernelFunc {
  const previous = getKernel(kernelName, 'wasm')?.kernelFunc;
  if (previous === undefined) throw new Error(`the wasm backend has no ${kernelName} kernel to fall back to`);
  return previous;
}
