// One optimizer step of the train loop, with its replays: splits the global batch by capacity, has the
// group run it, and when every rank aborted it (a rank ran out of memory, or was lost before any rank
// applied it) backs the rank off (policy/failure-policy.ts) and replays the same samples. Also takes
// in what the group changed between steps (ranks replaced, lost or joined). Called by train-loop.ts.
import { DdpError, type MembershipChange, type RestartRecord, type StepOutcome } from '@tfjs-ddp/core';
import { splitBatch } from '@tfjs-ddp/data';
import { backOff } from '../policy/failure-policy';
import type { LoopContext } from './loop-state';

/** Most replays of one step before the run gives up (each halves a micro-batch, so this is plenty). */
export const MAX_REPLAYS = 12;

/**
 * Runs step `ctx.state.step` of `epoch` on `batch` until no rank aborted it, and returns that outcome
 * (applied, or skipped for a non-finite gradient).
 * @throws DdpError E_MEMORY when a rank cannot fit one sample, or after MAX_REPLAYS replays;
 *   E_INTERNAL when the group aborted a step without saying why.
 */
export async function runStep(ctx: LoopContext, batch: Uint32Array, epoch: number): Promise<StepOutcome> {
  const { config, group, state: s, report } = ctx;
  const step = s.step;
  // Split on each try: a rank lost for good (elastic) changes the capacities between tries.
  let parts: Uint32Array[] = [];
  // An audit step (--audit-every): every rank also recomputes a neighbour's micro-batch.
  const audit = s.auditOn && step % config.auditEvery === 0;
  const run = (attempt: number) => {
    report.begin('plan', { attempt });
    parts = splitBatch(batch, s.capacities);
    report.end();
    const lr = s.lrFactor();
    return report.phase(
      attempt === 0 ? 'wait for the ranks' : `replay ${attempt}`,
      () =>
        group.step({
          epoch,
          step,
          attempt,
          globalCount: batch.length,
          slices: parts.map((indices, rank) => ({ rank, indices, microBatch: s.microBatches[rank]! })),
          ...(lr !== undefined ? { lrFactor: lr } : {}),
          ...(audit ? { audit, ...(s.selfCheckDue ? { auditSelf: true } : {}) } : {}),
        }),
      { step, attempt },
    );
  };
  let out = await run(0);
  for (let attempt = 1; ; attempt++) {
    recordRestarts(ctx, out.restarts, attempt - 1);
    for (const c of out.linkCuts ?? []) ctx.report.linkCut(step, attempt - 1, c, out.aborted);
    if (out.membership !== undefined) applyMembership(ctx, out.membership);
    if (!out.aborted) return out;
    // Aborted on every rank: a rank ran out of memory (replay with its micro-batch halved), or a
    // rank was lost before any rank finished the step (replay as it was, on the new process), or a
    // ring link failed (replay as it was, on the rebuilt ring).
    if (out.oom.length === 0 && out.restarts.length === 0 && out.membership === undefined && (out.linkCuts?.length ?? 0) === 0) {
      throw new DdpError(
        'E_INTERNAL',
        `step ${step} was aborted without an out-of-memory report or a lost rank`,
      );
    }
    if (attempt > MAX_REPLAYS) {
      throw new DdpError(
        'E_MEMORY',
        `step ${step} was aborted ${MAX_REPLAYS} times in a row`,
        'lower --micro-batch or --memory-budget',
      );
    }
    for (const o of out.oom) {
      const action = backOff({
        rank: o.rank,
        step,
        microBatch: o.microBatch,
        samples: parts[o.rank]!.length,
        reason: o.reason,
      });
      if (action.kind === 'abort') throw new DdpError(action.code, action.message, action.hint);
      s.microBatches[o.rank] = action.microBatch;
      s.backoffs.push(report.oom(step, attempt, o, action));
    }
    out = await run(attempt);
  }
}

/** What the group changed outside the steps: joins, ranks replaced or lost in evaluation or a save. */
export async function takeChanges(ctx: LoopContext): Promise<void> {
  const c = await ctx.group.between?.();
  if (c === undefined) return;
  recordRestarts(ctx, c.restarts, 0);
  if (c.membership !== null) applyMembership(ctx, c.membership);
}

function recordRestarts(ctx: LoopContext, list: RestartRecord[], attempt: number): void {
  const s = ctx.state;
  if (list.length > 0) s.selfCheckDue = true;
  for (const x of list) {
    s.restarts++;
    s.restartEvents.push(ctx.report.restart(s.step, attempt, x));
  }
}

/** The ranks changed (elastic): the global batch is split anew over them. */
function applyMembership(ctx: LoopContext, c: MembershipChange): void {
  const s = ctx.state;
  s.selfCheckDue = true;
  const now = ctx.group.describe();
  s.resplit(c.previousRank, now);
  s.membershipEvents.push(ctx.report.membership(s.step, c, now.length, s.plan()));
}
