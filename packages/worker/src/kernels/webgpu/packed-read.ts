// One readback for many tensors on webgpu: each tensor's bytes are copied side by side into one
// staging buffer (a copyBufferToBuffer command each: no shader, no bind group, no new tensor), then
// one submit and one map. A step's gradient leaves the device this way (GradientLayout.flatten),
// where it took a Reshape kernel per variable, a Concat of them all (7 dispatches for the seed) and
// a copy of the concatenation.
//
// It reaches into WebGPUBackend's fields (tfjs-backend-webgpu 4.22): those named in ReadBackend.
import * as tf from '@tensorflow/tfjs-core';

interface Mappable {
  size: number;
  mapAsync(mode: number): Promise<void>;
  getMappedRange(): ArrayBuffer;
  unmap(): void;
}
interface TensorData {
  dtype: string;
  shape: number[];
  /** The values while they are on the host (not yet uploaded), else null or undefined. */
  values?: ArrayLike<number> | null;
  /** Its GPU buffer (or texture) once on the device. */
  resource: unknown;
}
interface ReadBackend {
  tensorMap: { get(id: object): TensorData | undefined };
  bufferManager: { acquireBuffer(size: number, usage: number): Mappable; releaseBuffer(b: Mappable): void };
  commandEncoder: { copyBufferToBuffer(s: unknown, so: number, d: unknown, o: number, n: number): void };
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

// GPUBufferUsage.MAP_READ | COPY_DST, GPUMapMode.READ (the WebGPU spec's values).
const MAP_READ_COPY_DST = 0x1 | 0x8;
const MAP_MODE_READ = 0x1;

/** A typed view of a tensor's values: float32, or int32 for int32 and bool (as the GPU holds them). */
export type Values = Float32Array | Int32Array;

/** Host values of a tensor of `dtype` as the GPU holds them (float32, or int32 for int32 and bool): themselves where they already are. */
export function gpuValues(dtype: string, v: ArrayLike<number>): Values {
  if (dtype === 'float32') return v instanceof Float32Array ? v : Float32Array.from(v);
  return v instanceof Int32Array ? v : Int32Array.from(v);
}

/**
 * Reads `tensors` (float32, int32 or bool) in one round trip and calls `use(i, values)` for each, in
 * order, while the staging buffer is mapped: `values` is valid only during that call. Null, and
 * nothing done, when the active backend is not webgpu or a tensor is in a texture; the caller then
 * reads another way.
 */
export function readPacked(
  tensors: readonly tf.Tensor[],
  use: (i: number, values: Values) => void,
): Promise<void> | null {
  if (tf.getBackend() !== 'webgpu') return null;
  const b = tf.backend() as unknown as ReadBackend;
  const gpuBuffer = (globalThis as { GPUBuffer?: abstract new () => unknown }).GPUBuffer;
  const isBuffer = (r: unknown) => gpuBuffer !== undefined && r instanceof gpuBuffer;
  const data = tensors.map((t) => b.tensorMap.get(t.dataId));
  if (data.some((d) => d === undefined || (d.values == null && !isBuffer(d.resource)))) return null;
  if (tensors.some((t) => t.dtype !== 'float32' && t.dtype !== 'int32' && t.dtype !== 'bool')) return null;
  // Where each device-resident tensor's bytes go in the staging buffer.
  const offsets = tensors.map(() => -1);
  let total = 0;
  tensors.forEach((t, i) => {
    if (data[i]!.values == null && t.size > 0) {
      offsets[i] = total;
      total += t.size * 4;
    }
  });
  const view = (t: tf.Tensor, bytes: ArrayBuffer, offset: number): Values =>
    t.dtype === 'float32' ? new Float32Array(bytes, offset, t.size) : new Int32Array(bytes, offset, t.size);
  const onHost = (i: number) => {
    const v = data[i]!.values;
    use(i, v == null ? view(tensors[i]!, new ArrayBuffer(0), 0) : gpuValues(tensors[i]!.dtype, v));
  };
  if (total === 0) {
    tensors.forEach((_, i) => onHost(i));
    return Promise.resolve();
  }
  const staging = b.bufferManager.acquireBuffer(total, MAP_READ_COPY_DST);
  b.ensureCommandEncoderReady();
  b.endComputePassEncoder();
  tensors.forEach((t, i) => {
    if (offsets[i]! >= 0)
      b.commandEncoder.copyBufferToBuffer(data[i]!.resource, 0, staging, offsets[i]!, t.size * 4);
  });
  b.submitQueue();
  return staging.mapAsync(MAP_MODE_READ).then(
    () => {
      try {
        const bytes = staging.getMappedRange();
        tensors.forEach((t, i) => (offsets[i]! >= 0 ? use(i, view(t, bytes, offsets[i]!)) : onHost(i)));
      } finally {
        staging.unmap();
        b.bufferManager.releaseBuffer(staging);
      }
    },
    (e: unknown) => {
      b.bufferManager.releaseBuffer(staging);
      throw e;
    },
  );
}
