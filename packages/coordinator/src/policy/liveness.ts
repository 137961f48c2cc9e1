// Liveness of the ranks during a step, decided from what the coordinator has seen (decide-then-act:
// RemoteWorkerGroup keeps the observations and acts on the verdict). Every time is on a monotonic
// clock (performance.now()), so a wall-clock jump changes none of them.
import type { StepPhase } from '@tfjs-ddp/core';

/**
 * A rank that answers none of the coordinator's pings (every 2 s) for this long during a step is
 * lost (its host died, or it was stopped): 10 s, or 3 times its longest micro-batch of the previous
 * step, if longer, since a worker answers between micro-batches (a wasm micro-batch blocks its event
 * loop while it runs).
 */
export const SILENCE_MS = 10_000;

/**
 * A gap this long between two looks at the ranks' silence (the wait loop looks every 200 ms) means
 * the coordinator itself did not run meanwhile.
 */
export const PAUSED_MS = 3_000;

/** Where a rank last said it was (its progress messages), and when. */
export interface Seen {
  step: number | null;
  phase: StepPhase;
  at: number;
}

/** The step being waited for, when silence may be judged: its first try, at known micro-batch sizes. */
export interface SilenceWatch {
  since: number;
  lastLook: number;
  microBatch: Map<number, number>;
}

export interface SilenceInput {
  watch: SilenceWatch;
  /** Now. */
  t: number;
  /** Ranks that have not finished the step. */
  missing: number[];
  lastSeen: ReadonlyMap<number, Seen>;
  /** Per rank, its longest micro-batch of its last finished step (ms) and at which size. */
  microBatchMs: ReadonlyMap<number, { ms: number; microBatch: number }>;
}

export type SilenceVerdict =
  /** The coordinator was not running for `awayMs`: silence it did not watch is no evidence; judge again from now. */
  { kind: 'paused'; awayMs: number } | { kind: 'silent'; lost: { rank: number; cause: string }[] };

/**
 * Which of the missing ranks are lost to silence: quiet for longer than their allowance since the
 * wait began. Judged only for ranks whose micro-batch time at this size is known.
 */
export function judgeSilence(x: SilenceInput): SilenceVerdict {
  const away = x.t - x.watch.lastLook;
  if (away > PAUSED_MS) return { kind: 'paused', awayMs: away };
  const lost = x.missing.flatMap((r) => {
    const known = x.microBatchMs.get(r);
    if (known === undefined || known.microBatch !== x.watch.microBatch.get(r)) return [];
    const seen = x.lastSeen.get(r);
    const quiet = x.t - Math.max(seen?.at ?? 0, x.watch.since);
    if (quiet <= Math.max(SILENCE_MS, 3 * known.ms)) return [];
    const where = seen === undefined ? '' : `; it was last seen ${whereSeen(seen)}`;
    return [
      {
        rank: r,
        cause: `went silent: no answer to the coordinator's pings for ${Math.round(quiet / 1000)} s${where}`,
      },
    ];
  });
  return { kind: 'silent', lost };
}

/** 'idle after step 3' or 'in allreduce of step 4': where a rank last said it was. */
export function whereSeen(seen: { step: number | null; phase: StepPhase }): string {
  return seen.phase === 'idle' ? `idle after step ${seen.step}` : `in ${seen.phase} of step ${seen.step}`;
}
