// What the train loop does with the silent-data-corruption checks (policy/sdc-audit.ts decides): an
// audit step's recomputations, the ranks' weight checksums before anything is written, and the stop
// when they disagree. Called by train-loop.ts and the checkpoint writer (write-checkpoint.ts).
import { DdpError, type AuditReport } from '@tfjs-ddp/core';
import { auditChecks, decideAudit, selfChecks, weightsVerdict, type SdcError } from '../policy/sdc-audit';
import type { LoopContext } from './loop-state';

/**
 * Silent data corruption found: the run ends here, nothing more is written but the failure.
 * @throws DdpError E_SDC (v.code), always.
 */
export function stopForSdc(ctx: LoopContext, v: SdcError): never {
  ctx.report.sdc(ctx.state.step, v);
  throw new DdpError(v.code, v.message, v.hint);
}

/**
 * Judges an applied audit step: passed (recorded), not repeatable (audits off for the rest of the
 * run), or silent data corruption.
 * @throws DdpError E_SDC when a rank's gradient was recomputed differently by another.
 */
export function checkAuditStep(ctx: LoopContext, reports: AuditReport[]): void {
  const { state: s, report } = ctx;
  const d = decideAudit(reports, ctx.group.describe(), s.auditContext());
  if (d.kind === 'stop') stopForSdc(ctx, d.error);
  const self = selfChecks(reports).map((c) => ({ rank: c.rank, relative: c.comparison.relative }));
  if (self.length > 0) s.selfCheckDue = false;
  if (d.kind === 'off') {
    // No recomputation can agree with a step that is not repeatable: not E_SDC, no more audits.
    s.auditOn = false;
    report.auditOff(s.step, self, d.message);
  } else {
    s.lastAuditPassed = s.step;
    const checks = auditChecks(reports).map((c) => ({
      checker: c.checker,
      owner: c.owner,
      relative: c.comparison.relative,
    }));
    report.auditPassed(s.step, checks, self);
  }
}

/**
 * Every rank's weights must be bit-identical before anything of them is written (`what`: the save).
 * @throws DdpError E_SDC naming the rank whose checksum differs.
 */
export async function verifiedChecksums(ctx: LoopContext, what: string): Promise<string[]> {
  const sums = await ctx.report.phase('compare the weights', () => ctx.group.checksums());
  const v = weightsVerdict(sums, ctx.group.describe(), ctx.state.auditContext(), what);
  return v === null ? sums : stopForSdc(ctx, v);
}
