// A worker's spans of one step for the run's timeline (--timeline): built from the moments the
// step loop of worker-process.ts measured, on this process's trace clock; the coordinator moves them
// to its own clock and writes them (coordinator/src/observe/timeline.ts).
import { traceTime, type RingTimes, type TraceSpan } from '@tfjs-ddp/core';

/** A span measured with performance.now(), on this process's trace clock. */
export function onTraceClock(s: TraceSpan): TraceSpan {
  return { ...s, start: traceTime(s.start), end: traceTime(s.end) };
}

/** What a step's timeline is made of (performance.now() ms). */
export interface StepMoments {
  step: number;
  attempt: number;
  samples: number;
  microBatch: number;
  /** The left neighbour in the ring: the rank whose first chunk this one waits for. */
  left: number;
  bytes: number;
  /** When this rank answered its previous request (null: none yet). */
  idleSince: number | null;
  received: number;
  /** The micro-batches' spans (engine). */
  micro: TraceSpan[];
  /** On an audit step: the recomputation of `rank`'s micro-batch, before the all-reduce. */
  audit?: { rank: number; start: number; end: number };
  /** The all-reduce: called at t0, returned at t1; the ring's own times (null: one rank, no ring). */
  t0: number;
  ring: RingTimes | null;
  t1: number;
  /** The update ended at t2; the weights' checksum (when asked for) at doneAt. */
  t2: number;
  checksum: boolean;
  doneAt: number;
}

/**
 * A step's spans on this rank, on its trace clock, parents before their children: the idle time
 * before it, then the step and in it each micro-batch (data, forward+backward), on an audit step the
 * recomputation of another rank's micro-batch, the all-reduce (its
 * reduce-scatter, starting with the wait for the left neighbour's first chunk, then its all-gather),
 * the update and the checksum. Children are clamped into their parents (the ring's times come from
 * another clock reading).
 */
export function stepSpans(m: StepMoments): TraceSpan[] {
  const spans: TraceSpan[] = [];
  const inside = (parent: { start: number; end: number }, name: string, start: number, end: number, args?: TraceSpan['args']) => {
    const s = Math.min(Math.max(start, parent.start), parent.end);
    const span = { name, start: s, end: Math.max(s, Math.min(end, parent.end)), ...(args !== undefined ? { args } : {}) };
    spans.push(span);
    return span;
  };
  if (m.idleSince !== null && m.idleSince <= m.received) spans.push({ name: 'idle', start: m.idleSince, end: m.received });
  const step = inside({ start: m.received, end: m.doneAt }, `step ${m.step}`, m.received, m.doneAt, { step: m.step, attempt: m.attempt, samples: m.samples, micro_batch: m.microBatch });
  for (let i = 0; i + 2 < m.micro.length; i += 3) {
    const mb = inside(step, m.micro[i]!.name, m.micro[i]!.start, m.micro[i]!.end, m.micro[i]!.args);
    for (const c of [m.micro[i + 1]!, m.micro[i + 2]!]) inside(mb, c.name, c.start, c.end, c.args);
  }
  if (m.audit !== undefined) inside(step, 'audit', m.audit.start, m.audit.end, { recomputed_rank: m.audit.rank });
  const ar = inside(step, 'all-reduce', m.t0, m.t1, { bytes: m.bytes });
  if (m.ring !== null) {
    const rs = inside(ar, 'reduce-scatter', m.ring.start, m.ring.reduceScatterEnd);
    inside(rs, `wait for rank ${m.left}`, m.ring.start, m.ring.firstChunk);
    inside(ar, 'all-gather', m.ring.reduceScatterEnd, m.ring.end);
  }
  inside(step, 'apply', m.t1, m.t2);
  if (m.checksum) inside(step, 'checksum', m.t2, m.doneAt);
  return spans.map(onTraceClock);
}
