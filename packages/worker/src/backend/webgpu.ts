// The webgpu backend: @tensorflow/tfjs-backend-webgpu on Dawn's Node binding (npm `webgpu`), over
// whatever Vulkan driver this machine has (NVIDIA's, AMD's, Intel's, or Mesa's lavapipe on the CPU).
// This module picks the adapter, creates the device itself (so it can watch it: device lost,
// uncaptured errors, error scopes around each micro-batch) and hands it to the tfjs backend class.
// Called by backend selection; the engine only sees `withGpuErrorScopes` and `gpuBytesAllocated`.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { DdpError } from '@tfjs-ddp/core';
import { installBufferPool, webGpuBufferChoice } from './install-buffer-pool';
import { PlannedBufferPool } from './webgpu-buffer-pool';

/** What `info`, the worker log and summary.json say about a rank's adapter. */
export interface GpuAdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation (lavapipe, SwiftShader): no GPU memory of its own, slower than wasm. */
  software: boolean;
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  /** The Vulkan device selection this process was given (DRI_PRIME), if any. */
  selection: string | null;
}

// The few members of the WebGPU API used here (the full types come from @webgpu/types, which would
// put browser globals into every package's type space).
interface GpuError {
  message: string;
  constructor: { name: string };
}
interface GpuDevice {
  pushErrorScope(filter: 'out-of-memory' | 'validation' | 'internal'): void;
  popErrorScope(): Promise<GpuError | null>;
  addEventListener(type: 'uncapturederror', f: (ev: { error: GpuError }) => void): void;
  lost: Promise<{ reason: string; message: string }>;
  queue: { onSubmittedWorkDone(): Promise<void> };
  destroy(): void;
}
interface GpuAdapter {
  info: {
    vendor: string;
    architecture: string;
    device: string;
    description: string;
    isFallbackAdapter?: boolean;
  };
  limits: Record<string, number>;
  features?: { has(name: string): boolean };
  requestDevice(d: {
    requiredLimits: Record<string, number>;
    requiredFeatures?: string[];
  }): Promise<GpuDevice>;
}
interface Gpu {
  requestAdapter(o?: { powerPreference?: string }): Promise<GpuAdapter | null>;
}
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

const INSTALL_HINT =
  "install the Vulkan loader (Debian/Ubuntu: libvulkan1) and your GPU driver's Vulkan driver (NVIDIA: part of the " +
  'proprietary driver; AMD/Intel: mesa-vulkan-drivers); for the software adapter on the CPU, mesa-vulkan-drivers ≥ 25 ' +
  '(Debian 12: from bookworm-backports); or pass --backend wasm';

/** The process's one WebGPU device, once activateWebGpu has run. */
let state: { device: GpuDevice; adapter: GpuDescription; lost: string | null; log: GpuLog } | null = null;
type GpuDescription = GpuAdapterDescription;
type GpuLog = (level: 'error' | 'warn', fields: object, msg: string) => void;

const defaultLog: GpuLog = (level, fields, msg) =>
  process.stderr.write(`${JSON.stringify({ level, ...fields, msg })}\n`);

/** Whether this adapter is a CPU implementation rather than a GPU. */
export function isSoftwareAdapter(info: {
  architecture?: string;
  description?: string;
  device?: string;
  isFallbackAdapter?: boolean;
}): boolean {
  if (info.isFallbackAdapter === true || info.architecture === 'software') return true;
  return /llvmpipe|lavapipe|swiftshader/i.test(`${info.description ?? ''} ${info.device ?? ''}`);
}

function hasVulkanLoader(env: Record<string, string | undefined>): boolean {
  // A loader unpacked outside the system's folders (the GPU check does this) is found through LD_LIBRARY_PATH.
  const dirs = (env['LD_LIBRARY_PATH'] ?? '').split(':').filter((d) => d !== '');
  if (dirs.some((d) => existsSync(`${d}/libvulkan.so.1`))) return true;
  try {
    return /libvulkan\.so\.1\b/.test(
      execFileSync('ldconfig', ['-p'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 5000,
      }),
    );
  } catch {
    return [
      '/usr/lib/x86_64-linux-gnu/libvulkan.so.1',
      '/usr/lib64/libvulkan.so.1',
      '/usr/lib/libvulkan.so.1',
    ].some(existsSync);
  }
}

/** Where the Vulkan loader looks for implicit layers (Mesa's device-select is one). */
const IMPLICIT_LAYER_DIRS = [
  '/usr/share/vulkan/implicit_layer.d',
  '/etc/vulkan/implicit_layer.d',
  '/usr/local/share/vulkan/implicit_layer.d',
];

/**
 * DRI_PRIME picks this process's GPU only through Mesa's device-select layer: without the layer the
 * variable does nothing, and the process gets the first adapter like every other.
 */
function appliedSelection(env: Record<string, string | undefined>): string | null {
  const sel = env['DRI_PRIME'];
  if (sel === undefined || sel === '') return null;
  if (env['NODEVICE_SELECT'] === '1') return null;
  return IMPLICIT_LAYER_DIRS.some((d) => existsSync(`${d}/VkLayer_MESA_device_select.json`)) ? sel : null;
}

/**
 * Loads Dawn and returns its adapter for this process (the one Vulkan device selection leaves
 * visible, see docs/gpu.md) without creating a device.
 * @throws DdpError E_GPU_UNAVAILABLE naming what to install when there is no loader, driver or adapter.
 */
export async function openAdapter(
  env: Record<string, string | undefined> = process.env,
): Promise<{ gpu: Gpu; adapter: GpuAdapter; description: GpuAdapterDescription }> {
  let mod: { create(flags: string[]): Gpu; globals: Record<string, unknown> };
  try {
    mod = (await import('webgpu')) as unknown as typeof mod;
  } catch (e) {
    throw new DdpError(
      'E_GPU_UNAVAILABLE',
      `the npm package webgpu (Dawn) could not be loaded (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`,
      'run `npm ci`, or pass --backend wasm',
    );
  }
  Object.assign(globalThis, mod.globals);
  const gpu = mod.create([]);
  let adapter: GpuAdapter | null = null;
  let why = '';
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    why = ` (${(e instanceof Error ? e.message : String(e)).split('\n')[0]})`;
  }
  if (adapter === null) {
    const loader = hasVulkanLoader(env);
    throw new DdpError(
      'E_GPU_UNAVAILABLE',
      loader
        ? `WebGPU found no usable Vulkan adapter${why}: no Vulkan driver, or one too old for Dawn (Mesa < 25), ` +
            "or NVIDIA's driver without glvnd's libEGL.so.1 (in a container: install libegl1, and give it NVIDIA_DRIVER_CAPABILITIES=compute,graphics,utility)"
        : `WebGPU found no Vulkan adapter${why}: the Vulkan loader libvulkan.so.1 is not installed`,
      INSTALL_HINT,
    );
  }
  const i = adapter.info;
  const description: GpuAdapterDescription = {
    vendor: i.vendor,
    architecture: i.architecture,
    device: i.device,
    description: i.description,
    software: isSoftwareAdapter(i),
    maxBufferSize: adapter.limits['maxBufferSize'] ?? 0,
    maxStorageBufferBindingSize: adapter.limits['maxStorageBufferBindingSize'] ?? 0,
    selection: appliedSelection(env),
  };
  return { gpu, adapter, description };
}

/**
 * Makes tfjs' webgpu backend run on this process's adapter, on a device created here. A software
 * adapter only when `allowSoftware` (an explicit --backend webgpu).
 * @throws DdpError E_GPU_UNAVAILABLE (no adapter, or a software one not allowed), E_BACKEND.
 */
export async function activateWebGpu(opts: {
  allowSoftware: boolean;
  env?: Record<string, string | undefined>;
  log?: GpuLog;
}): Promise<GpuAdapterDescription> {
  if (state !== null) return state.adapter;
  const buffers = webGpuBufferChoice(opts.env ?? process.env);
  const { gpu, adapter, description } = await openAdapter(opts.env);
  if (description.software && !opts.allowSoftware) {
    throw new DdpError(
      'E_GPU_UNAVAILABLE',
      `the only WebGPU adapter is a software one (${description.description}), slower than wasm on the same CPU`,
      'pass --backend webgpu to use it anyway',
    );
  }
  const l = adapter.limits;
  const pick = (...names: string[]) =>
    Object.fromEntries(names.filter((n) => l[n] !== undefined).map((n) => [n, l[n]!]));
  const device = await adapter.requestDevice({
    // As tfjs' own device request does: GPU time per program when profiling (bench:step
    // --gpu-profile); tfjs and raw-dispatch.ts write timestamps only while a profile runs.
    requiredFeatures: adapter.features?.has('timestamp-query') === true ? ['timestamp-query'] : [],
    requiredLimits: pick(
      'maxBufferSize',
      'maxStorageBufferBindingSize',
      'maxComputeWorkgroupStorageSize',
      'maxComputeWorkgroupsPerDimension',
      'maxComputeWorkgroupSizeX',
      'maxComputeInvocationsPerWorkgroup',
      // Our programs with several outputs bind more than WebGPU's default of 8 where the adapter can.
      'maxStorageBuffersPerShaderStage',
    ),
  });
  const log = opts.log ?? defaultLog;
  state = { device, adapter: description, lost: null, log };
  const s = state;
  // Uncaptured errors (outside our scopes) must reach the log, not only Dawn's stdout.
  device.addEventListener('uncapturederror', (ev) =>
    log(
      'error',
      { gpuError: ev.error.constructor.name, message: ev.error.message.split('\n')[0] },
      'uncaptured WebGPU error',
    ),
  );
  void device.lost.then((info) => {
    s.lost = `${info.reason}: ${info.message}`;
    if (info.reason !== 'destroyed')
      log('error', { reason: info.reason, message: info.message }, 'WebGPU device lost');
  });
  // The backend registers itself at load time only if navigator.gpu exists, and its constructor checks it.
  (globalThis as { navigator?: unknown }).navigator = { gpu };
  const { WebGPUBackend } = (await import('@tensorflow/tfjs-backend-webgpu')) as unknown as {
    WebGPUBackend: new (d: GpuDevice, info: unknown) => tf.KernelBackend;
  };
  if (tf.findBackendFactory('webgpu') !== null) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => {
    const backend = new WebGPUBackend(device, adapter.info);
    if (buffers === 'planned') installBufferPool(backend, device);
    return backend;
  });
  if (!(await tf.setBackend('webgpu')))
    throw new DdpError('E_BACKEND', 'the webgpu backend failed to initialise', 'pass --backend wasm');
  process.once('exit', shutdownWebGpu);
  return description;
}

/** This process's adapter, once the webgpu backend is active. */
export function activeAdapter(): GpuAdapterDescription | null {
  return state?.adapter ?? null;
}

/** Frees the device and the global that keeps Node's event loop alive. Idempotent. */
export function shutdownWebGpu(): void {
  if (state === null) return;
  delete (globalThis as { navigator?: unknown }).navigator;
  state.device.destroy();
  state = null;
}

/**
 * Destroys this process's device: a real loss of the device as WebGPU reports it, for drills and
 * tests (TFJS_DDP_INJECT_DEVICE_LOST). Nothing can run on the backend afterwards.
 */
export function loseGpuDevice(): void {
  state?.device.destroy();
}

/**
 * The high-water mark of the bytes the backend has allocated on the GPU: the planned pool's own
 * (webgpu-buffer-pool.ts, which frees buffers), or what tfjs' pool holds (it frees nothing).
 */
export function gpuBytesAllocated(): number | null {
  if (state === null || tf.getBackend() !== 'webgpu') return null;
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
  const s = state;
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
  if (pool instanceof PlannedBufferPool) pool.abandon();
  for (const list of pool.freeBuffers.values()) {
    for (const b of list) {
      pool.numBytesAllocated -= b.size;
      b.destroy();
    }
    list.length = 0;
  }
  pool.numFreeBuffers = 0;
}
