// Silent data corruption: the coordinator's decisions, pure. judgeAudit compares, on an audit step
// (--audit-every), the digest of each rank's contributed gradient with its neighbour's
// recomputation of it and decides who is at fault; decideAudit first reads the self-check of a
// coordinator's first audit (is the training step repeatable at all?); weightsVerdict compares the
// ranks' weight checksums before anything is written. The train loop acts on what they return
// (loop/audit-guard.ts). Table-tested in sdc-audit.spec.ts.
import { compareDigests, DIGEST_RTOL, type AuditReport, type DigestComparison } from '@tfjs-ddp/core';

export interface RankId {
  rank: number;
  pid: number;
  host: string;
}

export interface SdcError {
  code: 'E_SDC';
  message: string;
  hint: string;
  /** The ranks named as faulty (empty when it cannot be told). */
  suspects: number[];
}

/** One cross-check: `checker` recomputed `owner`'s first micro-batch. */
export interface AuditCheck {
  checker: number;
  owner: number;
  comparison: DigestComparison;
}

/** Every cross-check the reports allow (ranks left unchecked are skipped). */
export function auditChecks(reports: readonly AuditReport[], rtol = DIGEST_RTOL): AuditCheck[] {
  const out: AuditCheck[] = [];
  reports.forEach((r, checker) => {
    const owner = r.checked?.rank;
    const theirs = owner === undefined ? undefined : reports[owner];
    if (r.checked === null || theirs === undefined || owner === checker) return;
    out.push({ checker, owner: owner!, comparison: compareDigests(theirs.own, r.checked.digest, rtol) });
  });
  return out;
}

/**
 * Who is at fault, from the checks that disagree:
 * 1. a rank whose contribution and recomputation both disagree (each with a different rank) while
 *    no other rank's do: its device computed wrong twice (three ranks or more);
 * 2. else the ranks whose contribution disagrees with its checker while their own recomputation of
 *    another rank's agreed (they computed right once, so the disputed figure is most likely theirs);
 * 3. else none: it cannot be told (two ranks whose both checks disagree, say).
 */
export function suspects(checks: readonly AuditCheck[]): number[] {
  const bad = checks.filter((c) => !c.comparison.agree);
  const ranks = [...new Set(checks.flatMap((c) => [c.checker, c.owner]))].sort((a, b) => a - b);
  const contribBad = (k: number) => bad.some((c) => c.owner === k);
  const recomputeBad = (k: number) => bad.some((c) => c.checker === k);
  const recomputeOk = (k: number) => checks.some((c) => c.checker === k && c.comparison.agree);
  const twice = ranks.filter((k) => contribBad(k) && recomputeBad(k));
  // Each disagreement involves two ranks: `twice` explains all of them only when it is one rank.
  if (twice.length === 1 && bad.every((c) => c.owner === twice[0] || c.checker === twice[0])) return twice;
  return ranks.filter((k) => contribBad(k) && !recomputeBad(k) && recomputeOk(k));
}

const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toPrecision(3)}%` : 'infinitely many times');
const g = (x: number) => (Number.isFinite(x) ? x.toPrecision(6) : String(x));
const who = (ids: readonly RankId[], r: number) => {
  const id = ids.find((i) => i.rank === r);
  return id === undefined ? `rank ${r}` : `rank ${r} (pid ${id.pid}, host ${id.host})`;
};

/** The figures of a disagreement: the worst chunk's sums, contributed and recomputed. */
const figures = (x: DigestComparison, chunks: number, rtol: number) =>
  x.chunk < 0
    ? `${x.a} values contributed, ${x.b} recomputed`
    : `chunk ${x.chunk + 1} of ${chunks} sums to ${g(x.a)} as contributed and ${g(x.b)} as recomputed, a difference of ${pct(x.relative)} of its absolute sum; tolerance ${pct(rtol)}`;

/** One line per cross-check that disagrees. */
const crossLines = (
  bad: readonly AuditCheck[],
  reports: readonly AuditReport[],
  ids: readonly RankId[],
  step: number,
  rtol: number,
) =>
  bad.map(
    (c) =>
      `${who(ids, c.owner)} contributed a gradient at step ${step} that ${who(ids, c.checker)} recomputed differently (${figures(c.comparison, reports[c.owner]!.own.sums.length, rtol)})`,
  );

/** What the train loop knows of its checkpoints and audits, for the next step in the message. */
export interface AuditContext {
  step: number;
  /** The last step whose audit passed (null: none yet). */
  lastAuditPassed: number | null;
  /** The newest checkpoint written (null: none). */
  lastCheckpoint: number | null;
}

/** The hint: what to resume from, and where (`avoid`: the suspect ranks, whose hosts or GPUs to leave out). */
function resumeHint(ctx: AuditContext, avoid: readonly number[]): string {
  const where =
    avoid.length > 0
      ? ` on hosts or GPUs other than those of ${avoid.map((k) => `rank ${k}`).join(', ')}`
      : " once every host's device is checked";
  const cp =
    ctx.lastCheckpoint === null
      ? `no checkpoint was written yet: start the run again${where}`
      : `resume from the newest checkpoint (step ${ctx.lastCheckpoint})${where}: tfjs-ddp train --resume RUN_DIR`;
  const audited =
    ctx.lastAuditPassed === null
      ? 'no audit has passed in this process before'
      : `the last audit that passed was at step ${ctx.lastAuditPassed}`;
  return `no checkpoint is written after this step; ${cp} (${audited}; the ranks' weights are compared before every checkpoint)`;
}

/**
 * The verdict of one audit step: null when every cross-check agrees, else the E_SDC error naming the
 * suspect rank (or saying that it cannot be told), with the figures of the worst disagreement.
 */
export function judgeAudit(
  reports: readonly AuditReport[],
  ids: readonly RankId[],
  ctx: AuditContext,
  rtol = DIGEST_RTOL,
): SdcError | null {
  const checks = auditChecks(reports, rtol);
  const bad = checks.filter((c) => !c.comparison.agree);
  if (bad.length === 0) return null;
  const blamed = suspects(checks);
  const lines = crossLines(bad, reports, ids, ctx.step, rtol);
  let verdict: string;
  if (blamed.length === 0) {
    verdict = `which rank's device is faulty cannot be told from this audit: every rank involved disagrees both as contributor and as checker`;
  } else {
    const agreed = blamed
      .map((k) => checks.find((c) => c.checker === k && c.comparison.agree))
      .filter((c) => c !== undefined);
    const because =
      agreed.length > 0
        ? `, while ${agreed.map((c) => `rank ${c.checker}'s recomputation of rank ${c.owner}'s micro-batch agreed`).join(' and ')}`
        : ", and its recomputation of another rank's disagreed too";
    const checkers = [...new Set(bad.filter((c) => blamed.includes(c.owner)).map((c) => c.checker))];
    const caveat =
      agreed.length > 0 && checkers.length > 0
        ? ` (one audit cannot rule out that rank ${checkers.join(', ')}'s recomputation was the wrong figure instead)`
        : '';
    verdict = `${blamed.map((k) => who(ids, k)).join(' and ')}: most likely its device is faulty${because}${caveat}`;
  }
  return {
    code: 'E_SDC',
    message: `${lines.join('; ')}; ${verdict}`,
    hint: `${resumeHint(ctx, blamed)}; if your model draws random numbers in training (dropout), recomputations cannot agree: pass --audit-every 0`,
    suspects: blamed,
  };
}

/** A self-check: `rank` recomputed its own first micro-batch (AuditReport.self). */
export interface SelfCheck {
  rank: number;
  comparison: DigestComparison;
}

/** The self-checks the reports carry (ranks that were not asked for one are skipped). */
export function selfChecks(reports: readonly AuditReport[], rtol = DIGEST_RTOL): SelfCheck[] {
  return reports.flatMap((r, rank) =>
    r.self === undefined ? [] : [{ rank, comparison: compareDigests(r.own, r.self, rtol) }],
  );
}

/** What the train loop does after an audit step. */
export type AuditDecision =
  /** Every check agreed: the run goes on, audited. */
  | { kind: 'pass' }
  /** The training step is not repeatable on any rank (dropout…): the audit is off for the rest of the run. */
  | { kind: 'off'; message: string }
  /** Silent data corruption: the run stops with this error. */
  | { kind: 'stop'; error: SdcError };

/**
 * The decision of one audit step. With self-checks (a coordinator's first audit):
 * 1. every rank's recomputation of its own micro-batch disagrees with its contribution: the step is
 *    not repeatable (a random op in training mode, a nondeterministic kernel), so no recomputation
 *    can agree: 'off', never E_SDC;
 * 2. some ranks' disagree while the others repeat theirs: the step is repeatable, so those ranks'
 *    devices are faulty: 'stop', naming them;
 * 3. all agree: the cross-checks decide (judgeAudit), as on every later audit step.
 */
export function decideAudit(
  reports: readonly AuditReport[],
  ids: readonly RankId[],
  ctx: AuditContext,
  rtol = DIGEST_RTOL,
): AuditDecision {
  const self = selfChecks(reports, rtol);
  const bad = self.filter((c) => !c.comparison.agree);
  const chunks = (k: number) => reports[k]!.own.sums.length;
  if (bad.length > 0 && bad.length === self.length) {
    const closest = bad.reduce((a, b) => (b.comparison.relative < a.comparison.relative ? b : a));
    return {
      kind: 'off',
      message: `audit off: the training step is not repeatable on any rank (dropout or another random op in training mode?): at step ${ctx.step} each of the ${self.length} ranks recomputed its own first micro-batch differently from the gradient it contributed (the closest, rank ${closest.rank}: ${figures(closest.comparison, chunks(closest.rank), rtol)}), so recomputations by other ranks cannot agree either; --audit-every 0 silences this`,
    };
  }
  if (bad.length > 0) {
    const blamed = bad.map((c) => c.rank);
    const good = self.filter((c) => c.comparison.agree).map((c) => c.rank);
    // The cross-checks that disagree first (what any audit step reports), then the self-checks.
    const cross = auditChecks(reports, rtol).filter((c) => !c.comparison.agree);
    const lines = [
      ...crossLines(cross, reports, ids, ctx.step, rtol),
      ...bad.map(
        (c) =>
          `${who(ids, c.rank)} recomputed its own first micro-batch at step ${ctx.step} differently from the gradient it contributed (${figures(c.comparison, chunks(c.rank), rtol)})`,
      ),
    ];
    return {
      kind: 'stop',
      error: {
        code: 'E_SDC',
        message: `${lines.join('; ')}; ${good.length === 1 ? 'rank' : 'ranks'} ${good.join(', ')} repeated ${good.length === 1 ? 'its' : 'theirs'} exactly or within the tolerance, so the training step is repeatable: ${blamed.map((k) => who(ids, k)).join(' and ')}: most likely its device is faulty`,
        hint: `${resumeHint(ctx, blamed)}; if only that rank's backend has nondeterministic kernels, pass --audit-every 0`,
        suspects: blamed,
      },
    };
  }
  const v = judgeAudit(reports, ids, ctx, rtol);
  return v === null ? { kind: 'pass' } : { kind: 'stop', error: v };
}

/**
 * The ranks' weight checksums, compared before a checkpoint or the final save: null when they are
 * all equal, else the E_SDC error naming the ranks that differ from the most common checksum (every
 * rank when no checksum is held by more ranks than another).
 */
export function weightsVerdict(
  checksums: readonly string[],
  ids: readonly RankId[],
  ctx: AuditContext,
  what: string,
): SdcError | null {
  if (new Set(checksums).size <= 1) return null;
  const counts = new Map<string, number>();
  for (const c of checksums) counts.set(c, (counts.get(c) ?? 0) + 1);
  const top = Math.max(...counts.values());
  const majority = [...counts].filter(([, n]) => n === top);
  const ref = majority.length === 1 ? majority[0]![0] : null;
  const odd = checksums.flatMap((c, r) => (ref === null || c !== ref ? [r] : []));
  const byRank = checksums.map((c, r) => `rank ${r} ${c}`).join(', ');
  return {
    code: 'E_SDC',
    message: `the ranks' weights differ before ${what} at step ${ctx.step} (${byRank}): ${ref === null ? 'no majority, so which rank is wrong cannot be told' : `${odd.map((r) => who(ids, r)).join(' and ')} disagree with the other ranks: its device may be faulty`}; nothing was written`,
    hint: resumeHint(ctx, ref === null ? [] : odd),
    suspects: ref === null ? [] : odd,
  };
}
