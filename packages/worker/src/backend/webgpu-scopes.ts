// The webgpu backend's device around each micro-batch (backend/webgpu.ts creates the device): the
// error scopes that make a GPU out-of-memory the product's OOM and a lost device a replaced process,
// the buffer plan's micro-batch boundaries (webgpu-buffer-pool.ts), what is freed before a replay,
// and the high-water mark of GPU memory that the memory probe reads. Used by the engine, the probe
// child and the benchmarks.
import * as tf from '@tensorflow/tfjs-core';
import { activeDevice, type GpuDevice } from './webgpu';
import { PlannedBufferPool } from './webgpu-buffer-pool';

interface BufferPool {
  freeBuffers: Map<string, { size: number; destroy(): void }[]>;
  numFreeBuffers: number;
  numBytesAllocated: number;
}
/** tfjs-backend-webgpu's pending command encoder and the flush that releases disposed tensors. */
interface WebGpuBackendInternals {
  bufferManager?: BufferPool | PlannedBufferPool;
  commandEncoder?: unknown;
  endComputePassEncoder?(): void;
  submitQueue?(): void;
}

/**
 * The high-water mark of the bytes the backend has allocated on the GPU: the planned pool's own
 * (webgpu-buffer-pool.ts, which frees buffers), or what tfjs' pool holds (it frees nothing).
 */
export function gpuBytesAllocated(): number | null {
  if (activeDevice() === null || tf.getBackend() !== 'webgpu') return null;
  const pool = (tf.backend() as unknown as WebGpuBackendInternals).bufferManager;
  if (pool instanceof PlannedBufferPool) return pool.peakBytesAllocated;
  return (tf.memory() as { numBytesAllocatedInGPU?: number }).numBytesAllocatedInGPU ?? null;
}

/** Dawn's validation messages for a buffer or binding over the device's limits. */
const BUFFER_LIMIT =
  /exceeds the max buffer size|larger than the maximum (storage|uniform) buffer binding size|maxStorageBufferBindingSize|maxBufferSize/i;

/** Messages the engine classifies: an OOM is replayed, a lost device replaces the process. */
export const GPU_OUT_OF_MEMORY = 'GPU out of memory';
export const GPU_DEVICE_LOST = 'WebGPU device lost';

/**
 * Runs `f` (one micro-batch: it must read its results, so the GPU work is done when it returns)
 * inside out-of-memory, validation and internal error scopes. A GPUOutOfMemoryError becomes an
 * Error whose message starts with GPU_OUT_OF_MEMORY (after the buffers that may be invalid are
 * dropped from the backend's pool); a lost device one with GPU_DEVICE_LOST; any other GPU error is
 * thrown as it is. Without an active webgpu device, just runs `f`.
 */
export async function withGpuErrorScopes<T>(
  f: () => Promise<T>,
  opts: { injectOom?: boolean; plan?: string } = {},
): Promise<T> {
  const s = activeDevice();
  if (s === null || tf.getBackend() !== 'webgpu') return f();
  if (s.lost !== null) throw new Error(`${GPU_DEVICE_LOST} (${s.lost})`);
  s.device.pushErrorScope('out-of-memory');
  s.device.pushErrorScope('validation');
  s.device.pushErrorScope('internal');
  const backend = tf.backend() as unknown as WebGpuBackendInternals;
  const pool = backend.bufferManager instanceof PlannedBufferPool ? backend.bufferManager : null;
  if (opts.plan !== undefined) pool?.beginMicroBatch(opts.plan);
  let result: T | undefined;
  let thrown: unknown = null;
  try {
    result = await f();
    if (opts.plan !== undefined && pool !== null) {
      // The micro-batch's disposed tensors give their buffers back at the next submit: now, so
      // that the plan sees every release.
      if (backend.commandEncoder != null) {
        backend.endComputePassEncoder?.();
        backend.submitQueue?.();
      }
      pool.endMicroBatch();
    }
  } catch (e) {
    thrown = e ?? new Error('unknown error');
    pool?.abandon();
  }
  const [internal, validation, oomError] = [
    await s.device.popErrorScope(),
    await s.device.popErrorScope(),
    await s.device.popErrorScope(),
  ];
  if (s.lost !== null) throw new Error(`${GPU_DEVICE_LOST} (${s.lost})`);
  // A tensor larger than one buffer or binding may be is, like an OOM, cured by a smaller micro-batch.
  const tooLarge = validation !== null && BUFFER_LIMIT.test(validation.message) ? validation : null;
  const oom =
    opts.injectOom === true
      ? 'injected (TFJS_DDP_INJECT_GPU_OOM)'
      : (oomError ?? tooLarge)?.message.split('\n')[0];
  if (oom !== undefined) {
    await releaseAfterOom(s.device);
    throw new Error(`${GPU_OUT_OF_MEMORY}: ${oom}`);
  }
  const other = validation ?? internal;
  if (other !== null) throw new Error(`WebGPU ${other.constructor.name}: ${other.message.split('\n')[0]}`);
  if (thrown !== null) throw thrown;
  return result as T;
}

/**
 * Gives the GPU memory of a failed micro-batch back before the replay. Its tensors were disposed, but
 * tfjs-backend-webgpu keeps those used by unsubmitted commands until the next submit, and Dawn frees a
 * destroyed buffer only once the work submitted before it is done. Without this the lent H200 ran
 * out of memory again at half and at a quarter of the micro-batch (6144 → 3072 → 1536 samples of
 * ~24 MiB, in 139 GiB): the first attempt's buffers were still held.
 */
async function releaseAfterOom(device: GpuDevice): Promise<void> {
  const backend = tf.backend() as unknown as WebGpuBackendInternals;
  if (backend.commandEncoder != null && backend.submitQueue !== undefined) {
    // The failure may have left a compute pass open: end it first, as tfjs does before a submit
    // (a pass left open on the finished encoder made every later dispatch invalid: the next
    // micro-batch computed zeros, webgpu-oom.spec.ts). The command buffer holds the failed
    // commands, so its submit is a validation error, expected and dropped here.
    device.pushErrorScope('validation');
    backend.endComputePassEncoder?.();
    backend.submitQueue();
    await device.popErrorScope();
  }
  dropFreeBuffers();
  await device.queue.onSubmittedWorkDone();
}

/**
 * Destroys the buffers in the backend's free pool. After an out-of-memory some of them are invalid
 * (their createBuffer failed), and the pool would hand them out again; the live tensors (weights,
 * optimizer slots) hold only buffers that were created before the failure.
 */
export function dropFreeBuffers(): void {
  const pool = (tf.backend() as unknown as WebGpuBackendInternals).bufferManager;
  if (pool === undefined) return;
  if (pool instanceof PlannedBufferPool) return pool.abandon();
  for (const list of pool.freeBuffers.values()) {
    for (const b of list) {
      pool.numBytesAllocated -= b.size;
      b.destroy();
    }
    list.length = 0;
  }
  pool.numFreeBuffers = 0;
}
