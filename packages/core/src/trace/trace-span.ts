// The run's timeline (--timeline): timed phases of every process, in the coordinator's Chrome trace.
// Each process measures on its own trace clock; the coordinator measures the offsets at rendezvous
// and converts the workers' spans to its clock before writing them (coordinator/src/observe/timeline.ts).

/** One timed phase of a process. Spans of one process nest by time: a parent contains its children. */
export interface TraceSpan {
  name: string;
  /** Start and end, in ms on the trace clock of the process that measured it (traceClock()). */
  start: number;
  end: number;
  /** Shown with the span in the trace viewer. */
  args?: Record<string, string | number | boolean>;
}

/**
 * This process's trace clock, in ms: the wall clock when the process started plus the monotonic time
 * since (performance.timeOrigin + performance.now()), so a process's spans keep their order and
 * lengths whatever the wall clock does, and the processes of one host nearly agree.
 */
export function traceClock(): number {
  return performance.timeOrigin + performance.now();
}

/** A performance.now() reading of this process on its trace clock. */
export function traceTime(perfNow: number): number {
  return performance.timeOrigin + perfNow;
}

/** Ms from the monotonic clock of process.hrtime (CLOCK_MONOTONIC, what native code reads) to performance.now(). */
let hrtimeToPerf: number | null = null;

/** A reading of CLOCK_MONOTONIC in ms (process.hrtime's clock, e.g. from native code) as performance.now(). */
export function perfFromMonotonic(ms: number): number {
  hrtimeToPerf ??= Number(process.hrtime.bigint()) / 1e6 - performance.now();
  return ms - hrtimeToPerf;
}
