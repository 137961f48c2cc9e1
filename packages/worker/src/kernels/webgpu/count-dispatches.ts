// For the webgpu specs: the GPU dispatches recorded while a function runs, counted at the WebGPU API
// (GPUComputePassEncoder.dispatchWorkgroups), so every path is seen: tfjs' programs and ours; and
// the tfjs programs among them, by class name.
import * as tf from '@tensorflow/tfjs-core';

type Dispatch = (...a: number[]) => void;

export async function countDispatches<T>(
  f: () => T | Promise<T>,
): Promise<{ result: T; dispatches: number }> {
  const proto = (
    globalThis as unknown as { GPUComputePassEncoder: { prototype: { dispatchWorkgroups: Dispatch } } }
  ).GPUComputePassEncoder.prototype;
  const original = proto.dispatchWorkgroups;
  let dispatches = 0;
  proto.dispatchWorkgroups = function (this: unknown, ...a: number[]) {
    dispatches++;
    return original.apply(this, a);
  };
  try {
    return { result: await f(), dispatches };
  } finally {
    proto.dispatchWorkgroups = original;
  }
}

/** Names of the tfjs program classes (runWebGPUProgram) the backend ran while `f` ran; ours record elsewhere. */
export async function programsRun<T>(f: () => Promise<T>): Promise<{ result: T; programs: string[] }> {
  const backend = tf.backend() as unknown as { runWebGPUProgram: (p: object, ...rest: unknown[]) => unknown };
  const original = backend.runWebGPUProgram;
  const programs: string[] = [];
  backend.runWebGPUProgram = function (this: unknown, p: object, ...rest: unknown[]) {
    programs.push(p.constructor.name);
    return original.call(this, p, ...rest);
  };
  try {
    return { result: await f(), programs };
  } finally {
    backend.runWebGPUProgram = original;
  }
}
