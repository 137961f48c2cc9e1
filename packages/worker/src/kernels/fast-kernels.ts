// Registers the training kernels that make a conv net trainable and fast on the wasm and cpu
// backends: Conv2DBackpropFilter (missing on wasm, ~80× slower than forward conv on cpu),
// Conv2DBackpropInput and MaxPoolGrad (naive loops on wasm); and on webgpu, both conv gradients
// (the stock filter gradient is a scalar loop per filter element). On wasm, oneDNN's convolutions
// (dnnl/) go over those when the native addon is built. Called once by backend selection.
import * as tf from '@tensorflow/tfjs-core';
import { getKernel, registerKernel, unregisterKernel, type KernelConfig } from '@tensorflow/tfjs-core';
import { BN_GRAD, BN_TRAIN, batchNormReluConfigs, nativeBatchNormConfigs } from './batch-norm-relu';
import { BN_GRAD_PARTS, BN_TRAIN_PARTS, nativeBatchNormPartsConfigs } from './batch-norm-parts';
import { nativeConcatConfig, nativeSliceConfig, nativeSplitVConfig } from './split-channels';
import { conv2DBackpropFilterConfig } from './conv2d-backprop-filter';
import { conv2DBackpropInputConfig } from './conv2d-backprop-input';
import { dnnl, type DnnlLoad } from './dnnl/dnnl-addon';
import { dnnlConvConfigs, dnnlFilterBiasConfig } from './dnnl/dnnl-kernels';
import { maxPoolGradConfig, nativeMaxPoolGradConfig } from './max-pool-grad';
import { maxPoolZeroPadConfigs, nativeMaxPoolZeroPadConfigs } from './max-pool-zero-pad';
import { nativeAddConfig, nativeEqualConfig, nativePadConfig } from './native-elementwise';
import { nativeAvgPoolGradConfig, nativeSumConfig } from './native-pool-sum';
import { shareIdentityConfig, shareClones } from './share-identity';
import { conv2DBackpropFilterSimdConfig } from './simd/conv-filter-simd';
import { simdHeapKernels, simdKernels } from './simd/simd-kernels';
import { conv2DBackpropFilterWebGpuConfigs } from './webgpu/conv2d-backprop-filter-webgpu';
import { batchNormWebGpuConfigs } from './webgpu/batch-norm-webgpu';
import { batchNormPartsWebGpuConfigs } from './webgpu/batch-norm-parts-webgpu';
import { concatSplitWebGpuConfigs } from './webgpu/concat-split-webgpu';
import { maxPoolZeroPadWebGpuConfigs } from './webgpu/max-pool-zero-pad-webgpu';
import { conv2DBackpropInputWebGpuConfig } from './webgpu/conv2d-backprop-input-webgpu';
import { conv2DForwardWebGpuConfigs } from './webgpu/conv2d-forward-webgpu';

/** Backends whose conv gradients we replace; tensorflow (tfjs-node) has good ones. */
export const FAST_KERNEL_BACKENDS = ['wasm', 'cpu', 'webgpu'] as const;
type FastKernelBackend = (typeof FAST_KERNEL_BACKENDS)[number];

/**
 * Each backend's replacement kernels. A config captures the stock kernel it replaces (as its
 * fallback for layouts it skips) when it is made, so all are made before any is registered.
 * webgpu keeps the stock MaxPoolGrad (a shader already; one layer, the stem); measurements in
 * docs/kernels.md, "webgpu".
 */
const CONFIGS: Record<FastKernelBackend, () => KernelConfig[]> = {
  wasm: () => [conv2DBackpropFilterConfig('wasm'), conv2DBackpropInputConfig('wasm'), maxPoolGradConfig('wasm'), ...maxPoolZeroPadConfigs('wasm'), ...batchNormReluConfigs('wasm'), shareIdentityConfig()],
  cpu: () => [conv2DBackpropFilterConfig('cpu'), conv2DBackpropInputConfig('cpu'), maxPoolGradConfig('cpu'), ...maxPoolZeroPadConfigs('cpu'), ...batchNormReluConfigs('cpu')],
  webgpu: () => [...conv2DForwardWebGpuConfigs(), ...conv2DBackpropFilterWebGpuConfigs(), conv2DBackpropInputWebGpuConfig(), ...batchNormWebGpuConfigs(), ...batchNormPartsWebGpuConfigs(), ...concatSplitWebGpuConfigs(), ...maxPoolZeroPadWebGpuConfigs()],
};

/** Kernel names registered per backend. */
const registered = new Map<string, string[]>();
let gradientsRegistered = false;

/**
 * ReLU's gradient from its output (y > 0 ⇔ x > 0) instead of its input. Every ReLU here follows a
 * BatchNorm and feeds a conv, which keeps the ReLU output anyway; the stock gradient also keeps
 * the BatchNorm output alive until the backward pass: one activation-sized tensor per conv block
 * (measured: wasm heap per sample of the DenseNet step, docs/kernels.md).
 */
function registerReluGradientFromOutput(): void {
  tf.registerGradient({
    kernelName: 'Relu',
    outputsToSave: [true],
    gradFunc: (dy, saved) => {
      const [y] = saved as [tf.Tensor];
      return { x: () => tf.mul(dy as tf.Tensor, tf.cast(tf.step(y), 'float32')) };
    },
  });
}

/**
 * Identity's gradient is dy itself instead of a copy of it (tfjs' is cast(dy, 'float32'), a copy
 * even when dy is float32). tfjs-layers clones every output a layer returns unchanged, such as a
 * ReLU folded into the BatchNorm before it, so the stock gradient copied 33 activation-sized
 * tensors per step of the DenseNet (11 ms at batch 64, docs/kernels.md).
 */
function registerIdentityGradientPassThrough(): void {
  tf.registerGradient({
    kernelName: 'Identity',
    gradFunc: (dy) => ({ x: () => ((dy as tf.Tensor).dtype === 'float32' ? (dy as tf.Tensor) : tf.cast(dy as tf.Tensor, 'float32')) }),
  });
}

function replace(config: KernelConfig): void {
  if (getKernel(config.kernelName, config.backendName) !== undefined) {
    unregisterKernel(config.kernelName, config.backendName);
  }
  registerKernel(config);
}

/**
 * Which kernels of a backend run natively: oneDNN's convolutions and this package's C++ kernels for
 * BatchNorm, the channel copies, pooling gradients, sums and adds (onednn), or none: the backend's
 * own with this package's replacements (builtin); and why.
 */
export interface NativeKernels {
  provider: 'onednn' | 'builtin';
  /** "oneDNN 2.6.3, 1 thread", or why the native kernels do not run. */
  why: string;
  /** Kernel names the native provider registered (empty unless provider is 'onednn'). */
  kernels: string[];
  /** Without the native provider on wasm: the kernels that run on this package's WebAssembly SIMD code. */
  simd: string[];
}

const nativeKernelsBy = new Map<string, NativeKernels>();

/** What registerFastKernels chose for `backendName`'s native kernels (undefined before it ran). */
export function nativeKernels(backendName: string): NativeKernels | undefined {
  return nativeKernelsBy.get(backendName);
}

/**
 * On wasm, the oneDNN convolutions over the wasm replacements just registered (which they take as
 * fallbacks), when the addon loads; otherwise one line saying why the wasm kernels run.
 */
function registerNativeConv(backendName: string, load: () => DnnlLoad): string[] {
  if (backendName !== 'wasm') {
    nativeKernelsBy.set(backendName, { provider: 'builtin', why: `no native provider for the ${backendName} backend`, kernels: [], simd: [] });
    return [];
  }
  const { binding, why } = load();
  if (binding === undefined) {
    const simd = registerSimdKernels();
    nativeKernelsBy.set(backendName, { provider: 'builtin', why, kernels: [], simd: simd.length === 0 ? [] : [BN_TRAIN, BN_GRAD, BN_TRAIN_PARTS, BN_GRAD_PARTS, ...simd] });
    return simd;
  }
  const configs = [...dnnlConvConfigs(binding), dnnlFilterBiasConfig(binding), ...nativeBatchNormConfigs(binding), ...nativeBatchNormPartsConfigs(binding), nativeSplitVConfig(binding), nativeSliceConfig(binding), nativeConcatConfig(binding), nativeMaxPoolGradConfig(binding), ...nativeMaxPoolZeroPadConfigs(binding), nativeAvgPoolGradConfig(binding), nativeSumConfig(binding), nativeAddConfig(binding), nativeEqualConfig(binding), nativePadConfig(binding)];
  configs.forEach(replace);
  const kernels = configs.map((c) => c.kernelName);
  nativeKernelsBy.set(backendName, { provider: 'onednn', why, kernels, simd: [] });
  return kernels;
}

/**
 * Without the addon, this package's WebAssembly SIMD kernels: the filter gradient (simd/conv.wat;
 * the forward conv and the input gradient stay on XNNPACK, as fast), the zero-pad max pool and
 * AvgPoolGrad (simd/pool.wat), the channel copies and the bias gradients' Sum (simd/kernels.wat);
 * the fused BatchNorm's JS kernels take their SIMD passes by themselves.
 * Returns the names registered.
 */
function registerSimdKernels(): string[] {
  // The pool, copies and Sum through the native kernels' registration code, with the addon's
  // signatures (simdHeapKernels).
  const k = simdKernels(tf.findBackend('wasm'));
  if (k === null) return [];
  const simd = simdHeapKernels(k);
  const configs = [conv2DBackpropFilterSimdConfig(), ...nativeMaxPoolZeroPadConfigs(simd), nativeAvgPoolGradConfig(simd), nativeSplitVConfig(simd), nativeConcatConfig(simd), nativeSumConfig(simd)];
  configs.forEach(replace);
  return configs.map((c) => c.kernelName);
}

/** Options of registerFastKernels. */
export interface FastKernelOptions {
  /** Loads the native conv provider; default: the addon, as TFJS_DDP_CPU_KERNELS says (dnnl-addon.ts). */
  native?: () => DnnlLoad;
}

/**
 * Replaces the conv-gradient kernels of `backendName` with ours, and on wasm its convolutions with
 * oneDNN's when the native addon loads. Idempotent; a no-op for backends not in
 * FAST_KERNEL_BACKENDS. Returns the kernel names it registered (a name once, even when oneDNN's
 * replaced the wasm one).
 * @throws Error for 'webgpu' before @tensorflow/tfjs-backend-webgpu is loaded (activateWebGpu):
 *   loading it later would register its stock kernels over ours.
 * @throws DdpError E_CONFIG when TFJS_DDP_CPU_KERNELS=dnnl or TFJS_DDP_NATIVE=1 and the addon does not load
 */
export function registerFastKernels(backendName: string, options: FastKernelOptions = {}): string[] {
  // A gradient function is global (every backend's): the same maths, less memory everywhere.
  if (!gradientsRegistered) {
    registerReluGradientFromOutput();
    registerIdentityGradientPassThrough();
    gradientsRegistered = true;
  }
  if (!(FAST_KERNEL_BACKENDS as readonly string[]).includes(backendName)) return [];
  const done = registered.get(backendName);
  if (done !== undefined) return done;
  if (backendName === 'webgpu' && getKernel('Conv2D', 'webgpu') === undefined) {
    throw new Error('registerFastKernels(\'webgpu\'): the webgpu backend\'s kernels are not loaded yet; call activateWebGpu() first');
  }
  const configs = CONFIGS[backendName as FastKernelBackend]();
  configs.forEach(replace);
  const names = configs.map((c) => c.kernelName);
  // engine.clone without a dispatch, on every backend whose Identity shares memory (share-identity.ts).
  shareClones();
  if (backendName === 'wasm' || backendName === 'cpu') {
    for (const n of registerNativeConv(backendName, options.native ?? dnnl)) if (!names.includes(n)) names.push(n);
  }
  registered.set(backendName, names);
  return names;
}
