// Backend selection for a worker: tfjs-node-gpu (only if it really uses the GPU) → webgpu (on a
// hardware adapter) → tfjs-node → wasm → cpu, or exactly the one the user asked for. Registers the fast training kernels where the
// backend needs them and reports what it chose. Called once per worker process, before any model.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-layers' bundle registers tfjs-core's gradient functions (tfjs-core's node bundle does not).
import '@tensorflow/tfjs-layers';

// No "Hi, looks like you are running TensorFlow.js in Node.js" banner and no debug-only checks.
tf.env().set('PROD', true);
import { BACKEND_CHOICES, DdpError, type BackendChoice } from '@tfjs-ddp/core';
import { nativeKernels, registerFastKernels, type NativeKernels } from '../kernels/fast-kernels';
import { installLeanBackprop } from '../train/lean-backprop';
import { installShapeOnlySaves } from '../train/shape-only-saves';
import { missingCudaLibraries } from './cuda-libraries';
import { activateWebGpu, type GpuAdapterDescription } from './webgpu';
import { wrapWasmMalloc } from './wasm-malloc';

export { BACKEND_CHOICES, type BackendChoice };
type Concrete = Exclude<BackendChoice, 'auto'>;

export interface BackendInfo {
  /** What the user asked for. */
  requested: BackendChoice;
  /** What runs: one of the concrete choices. */
  chosen: Concrete;
  /** tfjs' name for it ('tensorflow', 'webgpu', 'wasm', 'cpu'). */
  tfBackend: string;
  device: 'gpu' | 'cpu';
  /** webgpu: the adapter this process runs on; null on the other backends. */
  adapter: GpuAdapterDescription | null;
  /** Kernels this product registered on it. */
  fastKernels: string[];
  /** Whose convolutions run: oneDNN's (the native addon, on wasm) or the backend's own, and why. */
  nativeKernels: NativeKernels;
  /** Why each better candidate of `auto` was skipped. */
  skipped: { backend: Concrete; reason: string }[];
}

/** The order `auto` tries. */
export const AUTO_ORDER: readonly Concrete[] = ['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'];

// Optional dependencies: imported by a computed name so that neither TypeScript nor the bundler
// needs them installed.
const NODE_PACKAGES: Record<'tensorflow-gpu' | 'tensorflow', string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
};

async function importOptional(pkg: string): Promise<void> {
  try {
    await import(/* @vite-ignore */ pkg);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new DdpError(
      'E_BACKEND',
      `${pkg} could not be loaded (${msg.split('\n')[0]})`,
      `install it with \`npm install ${pkg}\` on a machine with internet access (its install script downloads libtensorflow), or pass --backend wasm`,
    );
  }
}

const OWN_KERNELS: NativeKernels = { provider: 'builtin', why: 'no native provider for this backend', kernels: [], simd: [] };

export interface SelectOptions {
  /** Environment of this process (Vulkan device selection); default process.env. */
  env?: Record<string, string | undefined>;
  /** Where GPU errors that no error scope caught are logged. */
  log?: (level: 'error' | 'warn', fields: object, msg: string) => void;
  /**
   * webgpu on Dawn's null backend, for benchmarks only (bench:step --host-only): every command is
   * validated and recorded and none runs, so a step takes the host's time alone. Nothing is
   * computed (a readback gives zeros): never for training.
   */
  dawnNull?: boolean;
}

async function activate(
  choice: Concrete,
  requested: BackendChoice,
  o: SelectOptions,
): Promise<Omit<BackendInfo, 'requested' | 'skipped'>> {
  if (choice === 'webgpu') {
    // A software adapter (lavapipe) only when asked for by name: on the same CPU, wasm is faster.
    const adapter = await activateWebGpu({ allowSoftware: requested === 'webgpu', ...o });
    return {
      chosen: choice,
      tfBackend: 'webgpu',
      device: 'gpu',
      adapter,
      fastKernels: registerFastKernels('webgpu'),
      nativeKernels: OWN_KERNELS,
    };
  }
  if (choice === 'tensorflow-gpu' || choice === 'tensorflow') {
    await importOptional(NODE_PACKAGES[choice]);
    if (!(await tf.setBackend('tensorflow'))) {
      throw new DdpError(
        'E_BACKEND',
        `the tensorflow backend of ${NODE_PACKAGES[choice]} failed to initialise`,
        'pass --backend wasm',
      );
    }
    const usesGpu = (tf.backend() as unknown as { isUsingGpuDevice?: boolean }).isUsingGpuDevice === true;
    if (choice === 'tensorflow-gpu' && !usesGpu) {
      const missing = missingCudaLibraries();
      throw new DdpError(
        'E_GPU_UNAVAILABLE',
        `tfjs-node-gpu loaded but TensorFlow runs on the CPU (isUsingGpuDevice is false); ` +
          (missing.length > 0
            ? `missing CUDA 11.2/cuDNN 8 libraries: ${missing.join(', ')}`
            : 'no CUDA device is visible'),
        'install CUDA 11.2 and cuDNN 8 (or add their lib directories to LD_LIBRARY_PATH), check CUDA_VISIBLE_DEVICES, or pass --backend tensorflow|wasm',
      );
    }
    return {
      chosen: choice,
      tfBackend: 'tensorflow',
      device: usesGpu ? 'gpu' : 'cpu',
      adapter: null,
      fastKernels: [],
      nativeKernels: OWN_KERNELS,
    };
  }
  if (!(await tf.setBackend(choice))) {
    throw new DdpError(
      'E_BACKEND',
      `the ${choice} backend failed to initialise`,
      choice === 'wasm' ? 'pass --backend cpu' : undefined,
    );
  }
  await tf.ready();
  if (choice === 'wasm') wrapWasmMalloc();
  const fastKernels = registerFastKernels(choice);
  return {
    chosen: choice,
    tfBackend: choice,
    device: 'cpu',
    adapter: null,
    fastKernels,
    nativeKernels: nativeKernels(choice) ?? OWN_KERNELS,
  };
}

/**
 * Makes the requested backend (or the best one `auto` can load) the active tfjs backend.
 * @throws DdpError E_BACKEND / E_GPU_UNAVAILABLE when an explicitly requested backend cannot run.
 */
export async function selectBackend(
  requested: BackendChoice = 'auto',
  o: SelectOptions = {},
): Promise<BackendInfo> {
  if (!(BACKEND_CHOICES as readonly string[]).includes(requested)) {
    throw new DdpError(
      'E_CONFIG',
      `backend '${String(requested)}' is not one of ${BACKEND_CHOICES.join(', ')}`,
    );
  }
  installLeanBackprop();
  installShapeOnlySaves();
  if (requested !== 'auto') return { requested, skipped: [], ...(await activate(requested, requested, o)) };
  const skipped: BackendInfo['skipped'] = [];
  for (const candidate of AUTO_ORDER) {
    try {
      return { requested, skipped, ...(await activate(candidate, requested, o)) };
    } catch (e) {
      skipped.push({ backend: candidate, reason: e instanceof Error ? e.message : String(e) });
    }
  }
  throw new DdpError(
    'E_BACKEND',
    `no backend could be loaded: ${skipped.map((s) => `${s.backend}: ${s.reason}`).join('; ')}`,
  );
}

/** Bytes of the wasm backend's heap (it only grows, so this is its high-water mark), else null. */
export function wasmHeapBytes(): number | null {
  if (tf.getBackend() !== 'wasm') return null;
  const wasm = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm;
  return wasm?.HEAPU8?.length ?? null;
}
