// The webgpu backend: @tensorflow/tfjs-backend-webgpu on Dawn's Node binding (npm `webgpu`), over
// whatever Vulkan driver this machine has (NVIDIA's, AMD's, Intel's, or Mesa's lavapipe on the CPU).
// This module picks the adapter, creates the device itself (so it can watch it: device lost,
// uncaptured errors, error scopes around each micro-batch) and hands it to the tfjs backend class.
// Called by backend selection; the engine sees webgpu-scopes.ts (error scopes, memory, OOM release).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { DdpError } from '@tfjs-ddp/core';
import {
  installCachedDispatch,
  installDirectUploads,
  webGpuSubmitEvery,
} from '../kernels/webgpu/cached-dispatch';
import { installBufferPool, webGpuBufferChoice } from './install-buffer-pool';
import { f16Features, webGpuF16Choice } from '../kernels/webgpu/f16';
import {
  MMA_FMA_SETUP,
  UNSAFE_APIS_FLAG,
  mmaSetup,
  setActiveMma,
  webGpuConvChoice,
  type SubgroupMatrixConfig,
} from '../kernels/webgpu/subgroup-matrix';

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
  /** It offers WebGPU's shader-f16: TFJS_DDP_WEBGPU_F16=1 can run the forward conv in half precision. */
  shaderF16: boolean;
  /** The subgroup-matrix shape TFJS_DDP_WEBGPU_CONV=mma runs on ('f16 → f32 16×16×16'), mma-fma's FMA products, or null. */
  subgroupMatrix: string | null;
  /** The Vulkan device selection this process was given (DRI_PRIME), if any. */
  selection: string | null;
}

// The few members of the WebGPU API used here (the full types come from @webgpu/types, which would
// put browser globals into every package's type space).
interface GpuError {
  message: string;
  constructor: { name: string };
}
export interface GpuDevice {
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
    subgroupMaxSize?: number;
    subgroupMatrixConfigs?: readonly SubgroupMatrixConfig[];
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
 * Every Dawn instance openAdapter made, kept for the life of the process. An instance collected by
 * the garbage collector while a device it made was in use crashed the process (a pthread mutex
 * assertion inside Dawn): seen in conv2d-mma-null.spec.ts, 11 runs of 12, until it kept its own.
 * activateWebGpu's instance lives on in navigator.gpu; this covers openAdapter's other callers and
 * an activation that fails after it (a spec goes on after one).
 */
const instances: unknown[] = [];

/** Dawn's backend that validates and records every command and executes none. */
const DAWN_NULL_FLAG = 'backend=null';
const DAWN_NULL_DESCRIPTION = "Dawn's null backend (records every command, runs none: host time only)";

/**
 * Loads Dawn and returns its adapter for this process (the one Vulkan device selection leaves
 * visible, see docs/gpu.md) without creating a device.
 * @throws DdpError E_GPU_UNAVAILABLE naming what to install when there is no loader, driver or adapter.
 */
export async function openAdapter(
  env: Record<string, string | undefined> = process.env,
  /** Dawn's null backend (benchmarks only: see SelectOptions.dawnNull). */
  dawnNull = false,
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
  // TFJS_DDP_WEBGPU_CONV=mma's subgroup matrices are behind Dawn's allow_unsafe_apis; nothing else is.
  const gpu = mod.create([
    ...(webGpuConvChoice(env) === 'mma' ? [UNSAFE_APIS_FLAG] : []),
    ...(dawnNull ? [DAWN_NULL_FLAG] : []),
  ]);
  instances.push(gpu);
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
    description: dawnNull ? DAWN_NULL_DESCRIPTION : i.description,
    software: isSoftwareAdapter(i),
    maxBufferSize: adapter.limits['maxBufferSize'] ?? 0,
    maxStorageBufferBindingSize: adapter.limits['maxStorageBufferBindingSize'] ?? 0,
    shaderF16: adapter.features?.has('shader-f16') === true,
    subgroupMatrix: null,
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
  dawnNull?: boolean;
}): Promise<GpuAdapterDescription> {
  if (state !== null) return state.adapter;
  const buffers = webGpuBufferChoice(opts.env ?? process.env);
  const submitEvery = webGpuSubmitEvery(opts.env ?? process.env);
  const { gpu, adapter, description } = await openAdapter(opts.env, opts.dawnNull === true);
  if (description.software && !opts.allowSoftware) {
    throw new DdpError(
      'E_GPU_UNAVAILABLE',
      `the only WebGPU adapter is a software one (${description.description}), slower than wasm on the same CPU`,
      'pass --backend webgpu to use it anyway',
    );
  }
  const f16 = webGpuF16Choice(opts.env ?? process.env);
  const conv = webGpuConvChoice(opts.env ?? process.env);
  const mma = conv === 'mma' ? mmaSetup(adapter) : conv === 'mma-fma' ? MMA_FMA_SETUP : null;
  // What needs shader-f16 (mma checked it itself): named in the error where the adapter lacks it.
  const needF16 = f16 ? 'TFJS_DDP_WEBGPU_F16=1' : conv === 'mma-fma' ? 'TFJS_DDP_WEBGPU_CONV=mma-fma' : null;
  const l = adapter.limits;
  const pick = (...names: string[]) =>
    Object.fromEntries(names.filter((n) => l[n] !== undefined).map((n) => [n, l[n]!]));
  const device = await adapter.requestDevice({
    // As tfjs' own device request does: GPU time per program when profiling (bench:step
    // --gpu-profile); tfjs and raw-dispatch.ts write timestamps only while a profile runs.
    requiredFeatures: [
      ...(adapter.features?.has('timestamp-query') === true ? ['timestamp-query'] : []),
      // shader-f16 where offered: TFJS_DDP_WEBGPU_F16=1's half-precision forward conv, and mma's
      // f16 tiles (kernels/webgpu/f16.ts).
      ...f16Features(needF16, description),
      // TFJS_DDP_WEBGPU_CONV=mma's others (kernels/webgpu/subgroup-matrix.ts).
      ...(mma?.features ?? []),
    ],
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
  if (f16)
    log(
      'warn',
      { TFJS_DDP_WEBGPU_F16: '1' },
      'the forward conv multiplies in float16 and accumulates in float32: losses and gradients differ from a float32 run as docs/kernels.md ("webgpu: f16") measures',
    );
  if (mma !== null)
    log(
      'warn',
      { TFJS_DDP_WEBGPU_CONV: conv, ...(mma.shape === 'fma' ? {} : mma.shape) },
      `the convs run on ${mma.shape === 'fma' ? "the subgroup-matrix programs with FMA products, mma's numerics and not its speed" : 'experimental subgroup matrices'}: f16 inputs, float32 sums; losses differ from a float32 run as docs/kernels.md ("webgpu: subgroup matrices") says`,
    );
  setActiveMma(mma);
  if (mma !== null)
    description.subgroupMatrix =
      mma.shape === 'fma'
        ? 'none: FMA products (mma-fma)'
        : `f16 → f32 ${mma.shape.M}×${mma.shape.N}×${mma.shape.K}`;
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
    // tfjs' own programs with cached uniform buffers and bind groups, and uploads without staging
    // buffers (kernels/webgpu/cached-dispatch.ts).
    installCachedDispatch(backend);
    installDirectUploads(backend);
    return backend;
  });
  if (!(await tf.setBackend('webgpu')))
    throw new DdpError('E_BACKEND', 'the webgpu backend failed to initialise', 'pass --backend wasm');
  // TFJS_DDP_WEBGPU_SUBMIT_EVERY: dispatches per queue submit (tfjs' flag, read by ours too).
  if (submitEvery !== null) tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', submitEvery);
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
  setActiveMma(null);
}

/**
 * Destroys this process's device: a real loss of the device as WebGPU reports it, for drills and
 * tests (TFJS_DDP_INJECT_DEVICE_LOST). Nothing can run on the backend afterwards.
 */
export function loseGpuDevice(): void {
  state?.device.destroy();
}

/** This process's device and, once it was lost, why (null before activateWebGpu). */
export function activeDevice(): { device: GpuDevice; lost: string | null } | null {
  return state;
}
