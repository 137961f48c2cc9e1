// GPU time per program over one async function (a training step), on the webgpu backend: what
// `npm run bench:step -- --backend webgpu --gpu-profile` prints, so that a run on a real GPU says
// which programs its time goes to. It turns on tfjs-backend-webgpu 4.22's own program timers (the
// fields its time() sets, which runWebGPUProgram and raw-dispatch.ts's record read): while they are
// on, every dispatch gets a compute pass of its own with timestamp writes, resolved and submitted at
// once, so the profiled step is much slower than a plain one and only its per-program GPU times
// mean anything. Needs the device's 'timestamp-query' feature (backend/webgpu.ts requests it where
// the adapter offers it); without it tfjs reports 0 for every program and so does this.
import * as tf from '@tensorflow/tfjs-core';

/** The WebGPUBackend fields tfjs' time() uses to collect program timers. */
interface TimedBackend {
  activeTimers: { name: string; query: Promise<number> }[] | null | undefined;
  programTimersStack: unknown;
  supportTimestampQuery: boolean;
}

export interface GpuProfile {
  /** Whether the device writes timestamps (else every time is 0). */
  timestamps: boolean;
  /** Dispatches timed, and their GPU milliseconds in all. */
  dispatches: number;
  gpuMs: number;
  /** By program (tfjs' program class, or our program's pipeline key), the most GPU time first. */
  programs: { name: string; dispatches: number; gpuMs: number }[];
}

/** Runs `f` with the webgpu backend's program timers on, and sums their GPU times by program. */
export async function profileGpuPrograms(f: () => Promise<unknown>): Promise<GpuProfile> {
  if (tf.getBackend() !== 'webgpu') throw new Error('profileGpuPrograms: the active backend is not webgpu');
  const b = tf.backend() as unknown as TimedBackend;
  if (b.activeTimers !== null && b.activeTimers !== undefined)
    throw new Error('profileGpuPrograms: a profile is already running');
  const timers: { name: string; query: Promise<number> }[] = [];
  b.activeTimers = timers;
  // As the outermost time() call sets it, so that a nested time() pushes into ours.
  b.programTimersStack = timers;
  try {
    await f();
  } finally {
    b.activeTimers = null;
    b.programTimersStack = null;
  }
  // A nested time() leaves its own timers as an array inside ours.
  const flat = (ts: unknown[]): { name: string; query: Promise<number> }[] =>
    ts.flatMap((t) => (Array.isArray(t) ? flat(t) : [t as { name: string; query: Promise<number> }]));
  const all = flat(timers);
  const ms = await Promise.all(all.map((t) => t.query));
  const by = new Map<string, { dispatches: number; gpuMs: number }>();
  all.forEach((t, i) => {
    const e = by.get(t.name) ?? { dispatches: 0, gpuMs: 0 };
    e.dispatches++;
    e.gpuMs += ms[i]!;
    by.set(t.name, e);
  });
  const programs = [...by.entries()].map(([name, e]) => ({ name, ...e })).sort((a, c) => c.gpuMs - a.gpuMs);
  return {
    timestamps: b.supportTimestampQuery,
    dispatches: all.length,
    gpuMs: ms.reduce((a, c) => a + c, 0),
    programs,
  };
}
