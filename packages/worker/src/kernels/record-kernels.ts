// For the specs: the names of the kernels a function runs through the engine (tf.engine().runKernel),
// in order, nested ones included; and a way to make a backend run given kernels.
import * as tf from '@tensorflow/tfjs-core';
import { getKernel, registerKernel, unregisterKernel, type KernelConfig } from '@tensorflow/tfjs-core';

export function recordKernels<T>(f: () => T): { result: T; kernels: string[] } {
  const kernels: string[] = [];
  const engine = tf.engine() as unknown as { runKernel: (name: string, ...rest: unknown[]) => unknown };
  const original = engine.runKernel;
  engine.runKernel = function (this: unknown, name: string, ...rest: unknown[]) {
    kernels.push(name);
    return original.call(this, name, ...rest);
  };
  try {
    return { result: f(), kernels };
  } finally {
    engine.runKernel = original;
  }
}

/** Registers `configs` over whatever their backends had under those names. */
export function useKernels(configs: KernelConfig[]): void {
  for (const c of configs) {
    if (getKernel(c.kernelName, c.backendName) !== undefined) unregisterKernel(c.kernelName, c.backendName);
    registerKernel(c);
  }
}
