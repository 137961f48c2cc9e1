import { DEFAULT_TRAIN_CONFIG, gradientDigest, type AuditReport, type GradientDigest } from '@tfjs-ddp/core';
import { describe, expect, it } from 'vitest';
import { checkAuditStep, verifiedChecksums } from './audit-guard';
import { LoopReporter } from './loop-reporter';
import { LoopState, type LoopContext } from './loop-state';
import { keptLog, ScriptedGroup, worker } from './scripted-group';
import type { TrainEvent } from './train-events';

const truth = (r: number): GradientDigest =>
  gradientDigest(Float32Array.from({ length: 256 }, (_, i) => Math.sin(i + 31 * r) * 1e-3));
const wrong = (r: number): GradientDigest =>
  gradientDigest(
    Float32Array.from({ length: 256 }, (_, i) => (i === 5 ? 3e30 : Math.sin(i + 31 * r) * 1e-3)),
  );

/** 3 ranks, each checking its right neighbour; `badOwn`: wrong contributions; `badSelf`: self-checks that differ. */
const ring = (badOwn: number[], badSelf?: number[]): AuditReport[] =>
  [0, 1, 2].map((r) => ({
    own: badOwn.includes(r) ? wrong(r) : truth(r),
    checked: { rank: (r + 1) % 3, digest: truth((r + 1) % 3) },
    ...(badSelf !== undefined ? { self: badSelf.includes(r) ? wrong(r) : truth(r) } : {}),
  }));

function setup() {
  const group = new ScriptedGroup([worker(0, 32), worker(1, 32), worker(2, 32)]);
  const rows: Record<string, unknown>[] = [];
  const events: TrainEvent[] = [];
  const config = { ...DEFAULT_TRAIN_CONFIG, auditEvery: 1 };
  const state = new LoopState(config, group.describe());
  state.step = 5;
  const ctx: LoopContext = {
    config,
    group,
    state,
    report: new LoopReporter({ metric: (r) => rows.push(r) }, keptLog(), (e) => events.push(e)),
  };
  return { ctx, state, rows, events, group };
}

describe('checkAuditStep', () => {
  it('records a passed audit with its margins and marks the self-check done', () => {
    const { ctx, state, rows } = setup();
    checkAuditStep(ctx, ring([], []));
    expect([state.lastAuditPassed, state.selfCheckDue, state.auditOn]).toEqual([5, false, true]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      event: 'audit',
      step: 5,
      checks: [
        { checker: 0, owner: 1 },
        { checker: 1, owner: 2 },
        { checker: 2, owner: 0 },
      ],
    });
    expect((rows[0]!['self_checks'] as unknown[]).length).toBe(3);
  });

  it('switches audits off for the run when no rank repeats its own step', () => {
    const { ctx, state, rows, events } = setup();
    checkAuditStep(ctx, ring([], [0, 1, 2]));
    expect([state.auditOn, state.lastAuditPassed]).toEqual([false, null]);
    expect(rows[0]).toMatchObject({ event: 'audit', step: 5, disabled: true, reason: 'not repeatable' });
    expect(events.map((e) => e.type)).toEqual(['audit-off']);
  });

  it('stops the run with E_SDC, after its row, when a contribution was recomputed differently', () => {
    const { ctx, rows } = setup();
    expect(() => checkAuditStep(ctx, ring([1]))).toThrow(/E_SDC: rank 1/);
    expect(rows).toMatchObject([{ event: 'sdc', step: 5, suspects: [1] }]);
  });
});

describe('verifiedChecksums', () => {
  it("returns the ranks' checksums when they are equal and stops with E_SDC when one differs", async () => {
    const { ctx, group, rows } = setup();
    expect(await verifiedChecksums(ctx, 'the final save')).toEqual(['c0ffee', 'c0ffee', 'c0ffee']);
    group.checksums = async () => ['a', 'a', 'b'];
    await expect(verifiedChecksums(ctx, 'the final save')).rejects.toMatchObject({ code: 'E_SDC' });
    expect(rows.map((r) => r['event'])).toEqual(['sdc']);
  });
});
