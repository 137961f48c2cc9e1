import { gradientDigest, type AuditReport, type GradientDigest } from '@tfjs-ddp/core';
import { describe, expect, it } from 'vitest';
import {
  auditChecks,
  decideAudit,
  judgeAudit,
  suspects,
  weightsVerdict,
  type AuditDecision,
  type RankId,
} from './sdc-audit';

// Each rank's true micro-batch gradient digest, and a wrong one.
const truth = (r: number): GradientDigest =>
  gradientDigest(Float32Array.from({ length: 256 }, (_, i) => Math.sin(i + 31 * r) * 1e-3));
const wrong = (r: number): GradientDigest =>
  gradientDigest(
    Float32Array.from({ length: 256 }, (_, i) => (i === 5 ? 3e30 : Math.sin(i + 31 * r) * 1e-3)),
  );
const ids: RankId[] = [0, 1, 2, 3].map((rank) => ({ rank, pid: 100 + rank, host: `h${rank}` }));
const ctx = { step: 3, lastAuditPassed: 2, lastCheckpoint: 2 };

/**
 * Reports of a ring of `w` ranks where each checks its right neighbour; `badOwn`: ranks whose
 * contribution is wrong; `badCheck`: ranks whose recomputation is wrong.
 */
function ring(w: number, badOwn: number[] = [], badCheck: number[] = []): AuditReport[] {
  return Array.from({ length: w }, (_, r) => {
    const n = (r + 1) % w;
    return {
      own: badOwn.includes(r) ? wrong(r) : truth(r),
      checked: { rank: n, digest: badCheck.includes(r) ? wrong(n) : truth(n) },
    };
  });
}

/** Rank `r`'s gradient as a step with dropout computes it: each computation `k` draws another mask. */
const draw = (r: number, k: number): GradientDigest =>
  gradientDigest(
    Float32Array.from(
      { length: 256 },
      (_, i) => Math.sin(i + 31 * r) * 1e-3 * (Math.sin(7 * i + 13 * k) > 0 ? 2 : 0),
    ),
  );

/**
 * A first audit's reports: `ring`'s, each rank's self-check repeating its contribution but for
 * `badSelf`'s, whose recomputation differs (the true gradient where the contribution is wrong).
 */
const selfChecked = (reports: AuditReport[], badSelf: number[] = []): AuditReport[] =>
  reports.map((x, r) => {
    const flipped = x.own.sums.some((v) => Math.abs(v) > 1e20);
    return { ...x, self: !badSelf.includes(r) ? x.own : flipped ? truth(r) : wrong(r) };
  });

/** A first audit's reports for a step that is not repeatable: every computation draws anew. */
const dropout = (w: number): AuditReport[] =>
  Array.from({ length: w }, (_, r) => ({
    own: draw(r, 3 * r),
    checked: { rank: (r + 1) % w, digest: draw((r + 1) % w, 3 * r + 1) },
    self: draw(r, 3 * r + 2),
  }));

describe('the silent data corruption audit', () => {
  it.each<[string, AuditReport[], AuditDecision['kind'], number[]]>([
    [
      'first audit, two ranks, every rank repeats its own step and the cross-checks agree: pass',
      selfChecked(ring(2)),
      'pass',
      [],
    ],
    ['first audit, three ranks, all repeat and agree: pass', selfChecked(ring(3)), 'pass', []],
    [
      'first audit, two ranks, no rank repeats its own step (dropout): the audit goes off, no E_SDC',
      dropout(2),
      'off',
      [],
    ],
    ['first audit, three ranks, no rank repeats its own step: off', dropout(3), 'off', []],
    [
      "first audit, two ranks, rank 1's contribution flipped (its self-check disagrees, rank 0's agrees): stop, rank 1",
      selfChecked(ring(2, [1]), [1]),
      'stop',
      [1],
    ],
    [
      "first audit, three ranks, rank 2's contribution flipped: stop, rank 2",
      selfChecked(ring(3, [2]), [2]),
      'stop',
      [2],
    ],
    [
      'first audit, three ranks, ranks 0 and 2 do not repeat their steps while rank 1 does: stop, ranks 0 and 2',
      selfChecked(ring(3, [0, 2]), [0, 2]),
      'stop',
      [0, 2],
    ],
    [
      'first audit, three ranks, all repeat but rank 1 contributed a wrong gradient twice: the cross-checks name it',
      selfChecked(ring(3, [1])),
      'stop',
      [1],
    ],
    [
      'a later audit (no self-checks), rank 1 contributed a wrong gradient: the cross-checks name it',
      ring(2, [1]),
      'stop',
      [1],
    ],
    ['a later audit, no self-checks, all agree: pass', ring(3), 'pass', []],
  ])('%s', (_name, reports, kind, blamed) => {
    const d = decideAudit(reports, ids, ctx);
    expect(d.kind).toBe(kind);
    if (d.kind === 'stop') {
      expect(d.error.code).toBe('E_SDC');
      expect(d.error.suspects).toEqual(blamed);
    }
  });

  it('says why the audit goes off, with the closest figures, and how to silence it', () => {
    const d = decideAudit(dropout(2), ids, ctx);
    expect(d.kind === 'off' && d.message).toMatch(
      /^audit off: the training step is not repeatable on any rank \(dropout or another random op in training mode\?\): at step 3 each of the 2 ranks recomputed its own first micro-batch differently .*\(the closest, rank \d: chunk \d+ of 64 .*tolerance 0\.100%\).*; --audit-every 0 silences this$/,
    );
  });

  it('names the rank whose self-check failed and the ranks that repeated theirs', () => {
    const d = decideAudit(selfChecked(ring(3, [2]), [2]), ids, ctx);
    expect(d.kind === 'stop' && d.error.message).toMatch(
      /^rank 2 \(pid 102, host h2\) contributed a gradient at step 3 that rank 1 \(pid 101, host h1\) recomputed differently \(chunk 2 of 64 .*\); rank 2 \(pid 102, host h2\) recomputed its own first micro-batch at step 3 differently from the gradient it contributed \(chunk 2 of 64 .*\); ranks 0, 1 repeated theirs exactly or within the tolerance, so the training step is repeatable: rank 2 \(pid 102, host h2\): most likely its device is faulty$/,
    );
    expect(d.kind === 'stop' && d.error.hint).toMatch(/on hosts or GPUs other than those of rank 2/);
  });

  it.each<[string, AuditReport[], number[] | null]>([
    ['two ranks that agree: no verdict', ring(2), null],
    ['four ranks that agree: no verdict', ring(4), null],
    [
      'two ranks, rank 1 contributed a wrong gradient: rank 1 (its recomputation of rank 0 agreed)',
      ring(2, [1]),
      [1],
    ],
    ['two ranks, rank 0 contributed a wrong gradient: rank 0', ring(2, [0]), [0]],
    [
      "two ranks, both of rank 1's computations wrong: cannot be told (every check disagrees)",
      ring(2, [1], [1]),
      [],
    ],
    ['four ranks, rank 2 contributed a wrong gradient: rank 2', ring(4, [2]), [2]],
    [
      'four ranks, rank 2 computes wrong throughout (contribution and recomputation): rank 2, not rank 3',
      ring(4, [2], [2]),
      [2],
    ],
    ['four ranks, ranks 1 and 3 contributed wrong gradients: both', ring(4, [1, 3]), [1, 3]],
    [
      'a rank left unchecked (a micro-batch too large for its checker) is skipped',
      ring(2).map((r, i) => (i === 0 ? { ...r, checked: null } : r)),
      null,
    ],
  ])('%s', (_name, reports, expected) => {
    const v = judgeAudit(reports, ids, ctx);
    if (expected === null) return expect(v).toBeNull();
    expect(v).not.toBeNull();
    expect(v!.code).toBe('E_SDC');
    expect(v!.suspects).toEqual(expected);
    expect(suspects(auditChecks(reports))).toEqual(expected);
  });

  it('names the rank, its pid, the checker, the step and the figures, and says what to do next', () => {
    const v = judgeAudit(ring(2, [1]), ids, ctx)!;
    expect(v.message).toMatch(
      /^rank 1 \(pid 101, host h1\) contributed a gradient at step 3 that rank 0 \(pid 100, host h0\) recomputed differently \(chunk 2 of 64 sums to 3\.00000e\+30 as contributed and .* as recomputed, a difference of 100% of its absolute sum; tolerance 0\.100%\)/,
    );
    expect(v.message).toMatch(
      /most likely its device is faulty, while rank 1's recomputation of rank 0's micro-batch agreed \(one audit cannot rule out that rank 0's recomputation was the wrong figure instead\)/,
    );
    expect(v.hint).toMatch(
      /^no checkpoint is written after this step; resume from the newest checkpoint \(step 2\) on hosts or GPUs other than those of rank 1: tfjs-ddp train --resume RUN_DIR \(the last audit that passed was at step 2/,
    );
  });

  it('says so when it cannot be told', () => {
    const v = judgeAudit(ring(2, [1], [1]), ids, { step: 5, lastAuditPassed: null, lastCheckpoint: null })!;
    expect(v.message).toMatch(/cannot be told from this audit/);
    expect(v.hint).toMatch(
      /no checkpoint was written yet: start the run again once every host's device is checked/,
    );
  });

  it.each<[string, string[], number[] | null, RegExp]>([
    ['equal weights: no verdict', ['aa', 'aa', 'aa'], null, /./],
    [
      'one rank of three differs: that rank',
      ['aa', 'bb', 'aa'],
      [1],
      /rank 1 \(pid 101, host h1\) disagree with the other ranks/,
    ],
    [
      'two ranks that differ: cannot be told',
      ['aa', 'bb'],
      [],
      /no majority, so which rank is wrong cannot be told; nothing was written/,
    ],
  ])('weights before a write: %s', (_name, sums, expected, message) => {
    const v = weightsVerdict(sums, ids, ctx, 'the checkpoint');
    if (expected === null) return expect(v).toBeNull();
    expect(v!.suspects).toEqual(expected);
    expect(v!.message).toMatch(/^the ranks' weights differ before the checkpoint at step 3/);
    expect(v!.message).toMatch(message);
  });
});
