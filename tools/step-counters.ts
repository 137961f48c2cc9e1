// Counters for bench:step: how many tfjs kernels a training step runs, how many GPU dispatches and
// submits it records (webgpu), and the host time those take. They wrap the engine's and the
// backend's methods in place; the wrappers cost well under a microsecond per call.
import * as tf from '@tensorflow/tfjs-core';
import { rawRecorder } from '@tfjs-ddp/worker';

export interface StepCounts {
  /** Top-level and nested `engine.runKernel` calls (forward, gradients, optimizer). */
  kernels: number;
  /** Milliseconds of host time inside top-level kernels (on webgpu: encoding, not GPU work). */
  kernelHostMs: number;
  /** webgpu only: GPU dispatches (`dispatchWorkgroups` calls), the recorders' host time, submits. */
  dispatches: number | null;
  dispatchHostMs: number | null;
  submits: number | null;
  /** webgpu only: bind groups and buffers created (a step that repeats should create few of either). */
  bindGroups: number | null;
  buffers: number | null;
  /** webgpu only: dispatches by the top-level kernel that recorded them, the most first. */
  dispatchesByKernel: { name: string; dispatches: number }[] | null;
  /** Top-level kernels by name: calls and host milliseconds, the costliest first. */
  byKernel: { name: string; calls: number; ms: number }[];
}

type Fn = (...args: unknown[]) => unknown;

/**
 * Installs the counters on the current engine and backend; `take()` returns and resets them,
 * `uninstall()` puts the wrapped methods back.
 */
export function installStepCounters(): { take: () => StepCounts; uninstall: () => void } {
  const engine = tf.engine() as unknown as Record<string, Fn>;
  const backend = tf.backend() as unknown as Record<string, Fn | undefined>;
  const zeros = () => ({ kernels: 0, kernelHostMs: 0, dispatches: 0, dispatchHostMs: 0, submits: 0, bindGroups: 0, buffers: 0 });
  const c = { depth: 0, ...zeros() };
  let byName = new Map<string, { calls: number; ms: number }>();
  // webgpu: dispatches by the top-level kernel that recorded them ('(no kernel)': outside any, such
  // as the optimizer's own programs).
  let dispatchesBy = new Map<string, number>();
  let current = '(no kernel)';
  // What uninstall() puts back: each wrapped method's owner, name and original.
  const wrapped: [Record<string, unknown>, string, unknown][] = [];
  const wrap = (owner: Record<string, unknown>, name: string, f: Fn) => {
    wrapped.push([owner, name, owner[name]]);
    owner[name] = f;
  };
  const runKernel = engine['runKernel'] as Fn;
  wrap(engine, 'runKernel', function (this: unknown, ...args: unknown[]) {
    c.kernels++;
    if (c.depth > 0) return runKernel.apply(this, args);
    c.depth++;
    current = String(args[0]);
    const t0 = performance.now();
    try {
      return runKernel.apply(this, args);
    } finally {
      current = '(no kernel)';
      const ms = performance.now() - t0;
      c.kernelHostMs += ms;
      const name = String(args[0]);
      const entry = byName.get(name) ?? { calls: 0, ms: 0 };
      entry.calls++;
      entry.ms += ms;
      byName.set(name, entry);
      c.depth--;
    }
  });
  const record = backend['recordAndSubmit'];
  const submit = backend['submitQueue'];
  const gpu = typeof record === 'function' && typeof submit === 'function';
  if (gpu) {
    // Dispatches at the WebGPU API, whichever path records them: tfjs' recordAndSubmit, or our own
    // programs' rawRecorder (several outputs per dispatch). Host time: both recorders.
    const pass = (globalThis as unknown as { GPUComputePassEncoder?: { prototype: Record<string, Fn> } }).GPUComputePassEncoder?.prototype;
    const dispatch = pass?.['dispatchWorkgroups'];
    if (pass === undefined || dispatch === undefined) throw new Error('step counters: webgpu backend without GPUComputePassEncoder in globalThis');
    wrap(pass, 'dispatchWorkgroups', function (this: unknown, ...args: unknown[]) {
      c.dispatches++;
      dispatchesBy.set(current, (dispatchesBy.get(current) ?? 0) + 1);
      return dispatch.apply(this, args);
    });
    const timed = (f: Fn): Fn =>
      function (this: unknown, ...args: unknown[]) {
        const t0 = performance.now();
        try {
          return f.apply(this, args);
        } finally {
          c.dispatchHostMs += performance.now() - t0;
        }
      };
    wrap(backend, 'recordAndSubmit', timed(record));
    const ours = rawRecorder as unknown as Record<string, Fn>;
    wrap(ours, 'record', timed(ours['record']!));
    const device = (globalThis as unknown as { GPUDevice?: { prototype: Record<string, Fn> } }).GPUDevice?.prototype;
    if (device === undefined) throw new Error('step counters: webgpu backend without GPUDevice in globalThis');
    const counted = (name: string, key: 'bindGroups' | 'buffers') => {
      const f = device[name]!;
      wrap(device, name, function (this: unknown, ...args: unknown[]) {
        c[key]++;
        return f.apply(this, args);
      });
    };
    counted('createBindGroup', 'bindGroups');
    counted('createBuffer', 'buffers');
    wrap(backend, 'submitQueue', function (this: unknown, ...args: unknown[]) {
      c.submits++;
      return submit.apply(this, args);
    });
  }
  return {
    take: () => {
      const out: StepCounts = {
        kernels: c.kernels,
        kernelHostMs: c.kernelHostMs,
        dispatches: gpu ? c.dispatches : null,
        dispatchHostMs: gpu ? c.dispatchHostMs : null,
        submits: gpu ? c.submits : null,
        bindGroups: gpu ? c.bindGroups : null,
        buffers: gpu ? c.buffers : null,
        dispatchesByKernel: gpu ? [...dispatchesBy].map(([name, dispatches]) => ({ name, dispatches })).sort((a, b) => b.dispatches - a.dispatches) : null,
        byKernel: [...byName].map(([name, e]) => ({ name, ...e })).sort((a, b) => b.ms - a.ms),
      };
      byName = new Map();
      dispatchesBy = new Map();
      Object.assign(c, zeros());
      return out;
    },
    uninstall: () => {
      for (const [owner, name, original] of wrapped.reverse()) owner[name] = original;
    },
  };
}
