// Silent data corruption: the coordinator's decisions, pure. judgeAudit compares, on an audit step
// (--audit-every), the digest of each rank's contributed gradient with its neighbour's
// recomputation of it and decides who is at fault; weightsVerdict compares the ranks' weight
// checksums before anything is written. Both return the error that ends the run, or null; the
// train loop throws it (train-loop.ts). Table-tested in sdc-audit.spec.ts.
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
  const figures = (c: AuditCheck) => {
    const x = c.comparison;
    if (x.chunk < 0) return `${x.a} values contributed, ${x.b} recomputed`;
    return `chunk ${x.chunk + 1} of ${reports[c.owner]!.own.sums.length} sums to ${g(x.a)} as contributed and ${g(x.b)} as recomputed, a difference of ${pct(x.relative)} of its absolute sum; tolerance ${pct(rtol)}`;
  };
  const lines = bad.map(
    (c) =>
      `${who(ids, c.owner)} contributed a gradient at step ${ctx.step} that ${who(ids, c.checker)} recomputed differently (${figures(c)})`,
  );
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
