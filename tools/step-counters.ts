// Counters for bench:step: how many tfjs kernels a training step runs, how many GPU dispatches and
// submits it records (webgpu), and the host time those take. They wrap the engine's and the
// backend's methods in place; the wrappers cost well under a microsecond per call.
import * as tf from '@tensorflow/tfjs-core';

export interface StepCounts {
  /** Top-level and nested `engine.runKernel` calls (forward, gradients, optimizer). */
  kernels: number;
  /** Milliseconds of host time inside top-level kernels (on webgpu: encoding, not GPU work). */
  kernelHostMs: number;
  /** webgpu only: programs recorded (one `dispatchWorkgroups` each), their host time, submits. */
  dispatches: number | null;
  dispatchHostMs: number | null;
  submits: number | null;
}

type Fn = (...args: unknown[]) => unknown;

/** Installs the counters on the current engine and backend; `take()` returns and resets them. */
export function installStepCounters(): { take: () => StepCounts } {
  const engine = tf.engine() as unknown as Record<string, Fn>;
  const backend = tf.backend() as unknown as Record<string, Fn | undefined>;
  const c = { kernels: 0, kernelHostMs: 0, depth: 0, dispatches: 0, dispatchHostMs: 0, submits: 0 };
  const runKernel = engine['runKernel'] as Fn;
  engine['runKernel'] = function (this: unknown, ...args: unknown[]) {
    c.kernels++;
    if (c.depth > 0) return runKernel.apply(this, args);
    c.depth++;
    const t0 = performance.now();
    try {
      return runKernel.apply(this, args);
    } finally {
      c.kernelHostMs += performance.now() - t0;
      c.depth--;
    }
  };
  const record = backend['recordAndSubmit'];
  const submit = backend['submitQueue'];
  const gpu = typeof record === 'function' && typeof submit === 'function';
  if (gpu) {
    backend['recordAndSubmit'] = function (this: unknown, ...args: unknown[]) {
      c.dispatches++;
      const t0 = performance.now();
      try {
        return record.apply(this, args);
      } finally {
        c.dispatchHostMs += performance.now() - t0;
      }
    };
    backend['submitQueue'] = function (this: unknown, ...args: unknown[]) {
      c.submits++;
      return submit.apply(this, args);
    };
  }
  return {
    take: () => {
      const out: StepCounts = {
        kernels: c.kernels,
        kernelHostMs: c.kernelHostMs,
        dispatches: gpu ? c.dispatches : null,
        dispatchHostMs: gpu ? c.dispatchHostMs : null,
        submits: gpu ? c.submits : null,
      };
      Object.assign(c, { kernels: 0, kernelHostMs: 0, dispatches: 0, dispatchHostMs: 0, submits: 0 });
      return out;
    },
  };
}
