// Puts the planned buffer pool (webgpu-buffer-pool.ts) on a new tfjs WebGPUBackend, with a readback
// that copies only a tensor's own bytes out of a buffer that may be larger; or, with
// TFJS_DDP_WEBGPU_BUFFERS=tfjs, leaves tfjs' own pool (to compare). Called by backend/webgpu.ts.
import { DdpError } from '@tfjs-ddp/core';
import { PlannedBufferPool, type PoolBuffer, type PoolDevice } from './webgpu-buffer-pool';

/** Which buffer pool webgpu runs: the planned one (the default) or tfjs' (`TFJS_DDP_WEBGPU_BUFFERS=tfjs`, to compare). */
export function webGpuBufferChoice(env: Record<string, string | undefined>): 'planned' | 'tfjs' {
  const v = env['TFJS_DDP_WEBGPU_BUFFERS'];
  if (v === undefined || v === '' || v === 'planned') return 'planned';
  if (v === 'tfjs') return 'tfjs';
  throw new DdpError(
    'E_CONFIG',
    `TFJS_DDP_WEBGPU_BUFFERS=${v} is not one of planned, tfjs`,
    "unset it (planned, the default) or set it to tfjs (tfjs-backend-webgpu's own exact-size pool)",
  );
}

/** The WebGPUBackend members installBufferPool replaces or uses. */
interface PoolBackend {
  bufferManager: unknown;
  getBufferData(buffer: PoolBuffer): Promise<ArrayBuffer | null>;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  commandEncoder: {
    copyBufferToBuffer(s: PoolBuffer, so: number, d: PoolBuffer, o: number, n: number): void;
  };
}
interface MappableBuffer extends PoolBuffer {
  mapAsync(mode: number): Promise<void>;
  getMappedRange(): ArrayBuffer;
  unmap(): void;
}
// GPUBufferUsage.MAP_READ | COPY_DST, GPUMapMode.READ.
const MAP_READ_COPY_DST = 0x1 | 0x8;
const MAP_MODE_READ = 0x1;

/**
 * Gives a new tfjs WebGPUBackend (before its first tensor) a PlannedBufferPool, and its readback
 * (otherwise as tfjs' own: a staging buffer, one submit, map, copy out).
 */
export function installBufferPool(backend: object, device: object): PlannedBufferPool {
  const b = backend as PoolBackend;
  const pool = new PlannedBufferPool(device as PoolDevice);
  b.bufferManager = pool;
  b.getBufferData = async (buffer) => {
    const size = pool.logicalSize(buffer);
    const staging = pool.acquireBuffer(size, MAP_READ_COPY_DST) as MappableBuffer;
    b.ensureCommandEncoderReady();
    b.endComputePassEncoder();
    b.commandEncoder.copyBufferToBuffer(buffer, 0, staging, 0, size);
    b.submitQueue();
    await staging.mapAsync(MAP_MODE_READ);
    const values = staging.getMappedRange().slice(0);
    staging.unmap();
    pool.releaseBuffer(staging);
    return values;
  };
  return pool;
}
