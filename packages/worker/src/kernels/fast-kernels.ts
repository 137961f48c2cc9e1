// Registers the training kernels that make a conv net trainable and fast on the wasm and cpu
// backends: Conv2DBackpropFilter (missing on wasm, ~80× slower than forward conv on cpu),
// Conv2DBackpropInput and MaxPoolGrad (naive loops on wasm). Called once by backend selection.
import * as tf from '@tensorflow/tfjs-core';
import { getKernel, registerKernel, unregisterKernel, type KernelConfig } from '@tensorflow/tfjs-core';
import { conv2DBackpropFilterConfig } from './conv2d-backprop-filter';
import { conv2DBackpropInputConfig } from './conv2d-backprop-input';
import { maxPoolGradConfig } from './max-pool-grad';

/** Backends whose conv gradients we replace; tensorflow (tfjs-node) and GPU backends have good ones. */
export const FAST_KERNEL_BACKENDS = ['wasm', 'cpu'] as const;

const registered = new Set<string>();
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

function replace(config: KernelConfig): void {
  if (getKernel(config.kernelName, config.backendName) !== undefined) {
    unregisterKernel(config.kernelName, config.backendName);
  }
  registerKernel(config);
}

/**
 * Replaces the conv-gradient kernels of `backendName` with the composite ones. Idempotent; a no-op
 * for backends not in FAST_KERNEL_BACKENDS. Returns the kernel names it registered.
 */
export function registerFastKernels(backendName: string): string[] {
  // A gradient function is global (every backend's): the same maths, less memory everywhere.
  if (!gradientsRegistered) {
    registerReluGradientFromOutput();
    gradientsRegistered = true;
  }
  if (!(FAST_KERNEL_BACKENDS as readonly string[]).includes(backendName)) return [];
  const names = ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'MaxPoolGrad'];
  if (!registered.has(backendName)) {
    // Input first: its config captures the stock kernel as the fallback for layouts it skips.
    replace(conv2DBackpropInputConfig(backendName));
    replace(conv2DBackpropFilterConfig(backendName));
    replace(maxPoolGradConfig(backendName));
    registered.add(backendName);
  }
  return names;
}
