import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '@tfjs-ddp/core';
import { describe, expect, it } from 'vitest';
import { LoopReporter } from './loop-reporter';
import { LoopState, type LoopContext } from './loop-state';
import { MAX_REPLAYS, runStep, takeChanges } from './run-step';
import { aborted, applied, keptLog, restart, ScriptedGroup, worker } from './scripted-group';
import type { TrainEvent } from './train-events';

const batch = Uint32Array.from({ length: 64 }, (_, i) => i);

function setup(group: ScriptedGroup, config: Partial<TrainConfig> = {}) {
  const rows: Record<string, unknown>[] = [];
  const events: TrainEvent[] = [];
  const log = keptLog();
  const report = new LoopReporter({ metric: (r) => rows.push(r) }, log, (e) => events.push(e));
  const cfg: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, auditEvery: 0, batchSize: 64, ...config };
  const state = new LoopState(cfg, group.describe());
  state.step = 1;
  const ctx: LoopContext = { config: cfg, group, state, report };
  return { ctx, state, rows, events, log };
}

const sorted = (parts: Uint32Array[]) => parts.flatMap((p) => [...p]).sort((a, b) => a - b);

describe('runStep', () => {
  it('returns the outcome of the first try when no rank aborted, the batch split by capacity', async () => {
    const group = new ScriptedGroup([worker(0, 48), worker(1, 16)]);
    const { ctx } = setup(group);
    const out = await runStep(ctx, batch, 1);
    expect(out).toEqual(applied(64));
    expect(group.plans).toHaveLength(1);
    const [plan] = group.plans;
    expect(plan).toMatchObject({ epoch: 1, step: 1, attempt: 0, globalCount: 64 });
    expect(plan!.slices.map((s) => [s.rank, s.indices.length, s.microBatch])).toEqual([
      [0, 48, 48],
      [1, 16, 16],
    ]);
    expect(plan!.audit).toBeUndefined();
  });

  it('replays the same samples with the micro-batch of the rank that ran out of memory halved', async () => {
    const group = new ScriptedGroup(
      [worker(0, 32), worker(1, 32)],
      [aborted({ oom: [{ rank: 1, microBatch: 32, reason: 'heap full' }] })],
    );
    const { ctx, state, rows, events, log } = setup(group);
    const out = await runStep(ctx, batch, 1);
    expect(out.aborted).toBe(false);
    expect(group.plans.map((p) => p.attempt)).toEqual([0, 1]);
    expect(group.plans.map((p) => p.slices.map((s) => s.microBatch))).toEqual([
      [32, 32],
      [32, 16],
    ]);
    // Same samples on the same ranks: only how rank 1 computes them changed.
    expect(group.plans[1]!.slices.map((s) => [...s.indices])).toEqual(
      group.plans[0]!.slices.map((s) => [...s.indices]),
    );
    expect(state.microBatches).toEqual([32, 16]);
    const row = {
      event: 'oom',
      step: 1,
      attempt: 1,
      rank: 1,
      old_micro_batch: 32,
      new_micro_batch: 16,
      accumulation: 2,
      reason: 'heap full',
      restarted: false,
    };
    expect(state.backoffs).toEqual([row]);
    expect(rows).toEqual([row]);
    expect(events).toEqual([
      {
        type: 'oom',
        step: 1,
        rank: 1,
        oldMicroBatch: 32,
        newMicroBatch: 16,
        accumulation: 2,
        reason: 'heap full',
      },
    ]);
    expect(log.lines).toEqual([
      ['warn', 'out of memory: replaying the step with a smaller micro-batch on that rank', row],
    ]);
  });

  it('backs the rank off again on each replay until the step fits', async () => {
    const oomOn0 = (p: { slices: { microBatch: number }[] }) =>
      aborted({ oom: [{ rank: 0, microBatch: p.slices[0]!.microBatch, reason: 'x', fatal: true }] });
    const group = new ScriptedGroup([worker(0, 32), worker(1, 32)], [oomOn0, oomOn0]);
    const { ctx, state } = setup(group);
    await runStep(ctx, batch, 1);
    expect(group.plans.map((p) => p.slices[0]!.microBatch)).toEqual([32, 16, 8]);
    expect(
      state.backoffs.map((b) => [b['attempt'], b['new_micro_batch'], b['accumulation'], b['restarted']]),
    ).toEqual([
      [1, 16, 2, true],
      [2, 8, 4, true],
    ]);
  });

  it('replays the step as it was when a rank was lost before any rank applied it', async () => {
    const group = new ScriptedGroup([worker(0, 32), worker(1, 32)], [aborted({ restarts: [restart(1)] })]);
    const { ctx, state, events } = setup(group);
    state.selfCheckDue = false;
    await runStep(ctx, batch, 1);
    expect(group.plans.map((p) => p.slices.map((s) => s.microBatch))).toEqual([
      [32, 32],
      [32, 32],
    ]);
    expect(state.restarts).toBe(1);
    expect(state.restartEvents).toEqual([
      {
        event: 'restart',
        step: 1,
        attempt: 0,
        rank: 1,
        old_pid: 101,
        new_pid: 201,
        host: 'h',
        cause: 'was killed by SIGKILL',
        last_lines: ['last'],
      },
    ]);
    expect(state.selfCheckDue).toBe(true);
    expect(events).toEqual([
      { type: 'restart', step: 1, rank: 1, oldPid: 101, newPid: 201, cause: 'was killed by SIGKILL' },
    ]);
  });

  it('splits the replay anew over the ranks left after a shrink, each keeping its micro-batch', async () => {
    const group = new ScriptedGroup([worker(0, 32), worker(1, 16), worker(2, 16)]);
    const lost = { rank: 1, pid: 101, host: 'h', cause: 'host gone' };
    const { ctx, state, events } = setup(group);
    state.microBatches[2] = 8; // backed off earlier
    group.script.push(() => {
      group.descriptions = [worker(0, 32), worker(1, 16)];
      return aborted({ membership: { kind: 'shrink', previousRank: [0, 2], lost: [lost] } });
    });
    await runStep(ctx, batch, 1);
    const replay = group.plans[1]!;
    expect(replay.slices.map((s) => [s.rank, s.indices.length, s.microBatch])).toEqual([
      [0, 43, 32],
      [1, 21, 8],
    ]);
    expect(sorted(replay.slices.map((s) => s.indices))).toEqual([...batch]);
    expect(state.capacities).toEqual([32, 16]);
    expect(state.membershipEvents).toHaveLength(1);
    expect(state.membershipEvents[0]).toMatchObject({
      event: 'membership',
      step: 1,
      kind: 'shrink',
      workers: 2,
      previous_rank: [0, 2],
      lost: [lost],
    });
    expect(events).toEqual([{ type: 'membership', step: 1, kind: 'shrink', worldSize: 2 }]);
  });

  it('ends the run when a rank runs out of memory with a micro-batch of 1', async () => {
    const group = new ScriptedGroup(
      [worker(0, 1)],
      [aborted({ oom: [{ rank: 0, microBatch: 1, reason: 'heap full' }] })],
    );
    const { ctx, state } = setup(group, { batchSize: 1 });
    await expect(runStep(ctx, batch.subarray(0, 1), 1)).rejects.toMatchObject({
      code: 'E_MEMORY',
      message: expect.stringContaining('rank 0 ran out of memory at step 1 with a micro-batch of 1'),
    });
    expect(state.backoffs).toEqual([]);
  });

  it(`gives up after ${MAX_REPLAYS} replays of one step`, async () => {
    const group = new ScriptedGroup(
      [worker(0, 32)],
      Array.from({ length: 20 }, () => aborted({ restarts: [restart(0)] })),
    );
    const { ctx, state } = setup(group);
    await expect(runStep(ctx, batch, 1)).rejects.toMatchObject({
      code: 'E_MEMORY',
      message: expect.stringContaining(`step 1 was aborted ${MAX_REPLAYS} times in a row`),
    });
    expect(group.plans).toHaveLength(MAX_REPLAYS + 1);
    expect(state.restarts).toBe(MAX_REPLAYS + 1);
  });

  it('refuses a step aborted without an out-of-memory report or a lost rank', async () => {
    const group = new ScriptedGroup([worker(0, 32)], [aborted({})]);
    const { ctx } = setup(group);
    await expect(runStep(ctx, batch, 1)).rejects.toMatchObject({ code: 'E_INTERNAL' });
    expect(group.plans).toHaveLength(1);
  });

  it('asks for an audit on audit steps, with the self-check again on the replay after a rank was replaced', async () => {
    const group = new ScriptedGroup([worker(0, 32), worker(1, 32)], [aborted({ restarts: [restart(0)] })]);
    const { ctx, state } = setup(group, { auditEvery: 1 });
    state.selfCheckDue = false;
    await runStep(ctx, batch, 1);
    expect(group.plans.map((p) => [p.audit, p.auditSelf])).toEqual([
      [true, undefined],
      [true, true],
    ]);
  });

  it("passes the schedule's learning-rate factor when the rate is not constant", async () => {
    const group = new ScriptedGroup([worker(0, 64)]);
    const { ctx, state } = setup(group, { lrSchedule: 'cosine', epochs: 1 });
    state.step = 8;
    await runStep(ctx, batch, 1);
    expect(group.plans[0]!.lrFactor).toBeCloseTo(state.lrFactor()!, 12);
    expect(group.plans[0]!.lrFactor).toBeLessThan(1);
  });
});

describe('takeChanges', () => {
  it('records the ranks the group replaced outside the steps, as attempt 0 of the current step', async () => {
    const group = new ScriptedGroup([worker(0, 32), worker(1, 32)]);
    group.changes.push({ restarts: [restart(1)], membership: null });
    const { ctx, state, rows } = setup(group);
    state.selfCheckDue = false;
    await takeChanges(ctx);
    expect(state.restarts).toBe(1);
    expect(rows).toMatchObject([{ event: 'restart', step: 1, attempt: 0, rank: 1 }]);
    expect(state.selfCheckDue).toBe(true);
    await takeChanges(ctx); // nothing more changed
    expect(state.restarts).toBe(1);
  });
});
