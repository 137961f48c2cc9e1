// What the remote group sends and reads on an audit step (--audit-every): which micro-batch each
// rank recomputes (its right neighbour's first, the ring's order), and the ranks' reports, checked
// field by field. The comparison and the verdict are policy/sdc-audit.ts's.
import {
  readAuditReport,
  type AuditReport,
  type AuditRequest,
  type RankSlice,
  type WireAuditReport,
} from '@tfjs-ddp/core';

/**
 * Per slice (same order), the audit request and the indices to recompute (null: not checked);
 * `self`: every rank also recomputes its own first micro-batch (the self-check of a first audit).
 */
export function auditRequests(
  slices: readonly RankSlice[],
  self = false,
): { request: AuditRequest; indices: Uint32Array | null }[] {
  if (slices.length < 2) return [];
  return slices.map((mine, i) => {
    const next = slices[(i + 1) % slices.length]!;
    const size = Math.max(1, Math.min(next.microBatch, next.indices.length));
    // The neighbour's micro-batch in one piece (BatchNorm makes a gradient depend on how a batch is
    // cut): a rank whose own micro-batch is smaller might not fit it, and leaves it unchecked.
    const fits = size <= mine.microBatch && next.indices.length > 0;
    return {
      request: { rank: next.rank, microBatch: size, ...(self ? { self: true as const } : {}) },
      indices: fits ? next.indices.subarray(0, size) : null,
    };
  });
}

/**
 * The ranks' reports by rank, checked (absent when a rank sent none: an aborted step).
 * @throws DdpError E_PROTOCOL naming the rank whose report is malformed
 */
export function auditReports(
  replies: readonly { rank: number; audit?: WireAuditReport }[],
): AuditReport[] | undefined {
  const out: AuditReport[] = [];
  for (const r of replies) {
    const report = readAuditReport(r.audit, `rank ${r.rank}'s step-done`);
    if (report === undefined) return undefined;
    out[r.rank] = report;
  }
  return out;
}
