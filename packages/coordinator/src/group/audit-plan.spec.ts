import { describe, expect, it } from 'vitest';
import { auditRequests } from './audit-plan';

const slice = (rank: number, n: number, microBatch: number) => ({
  rank,
  microBatch,
  indices: Uint32Array.from({ length: n }, (_, i) => rank * 100 + i),
});

describe('the audit plan', () => {
  it("has each rank recompute its right neighbour's first micro-batch, the last rank rank 0's", () => {
    const a = auditRequests([slice(0, 8, 4), slice(1, 8, 4), slice(2, 3, 4)]);
    expect(a.map((x) => x.request)).toEqual([
      { rank: 1, microBatch: 4 },
      { rank: 2, microBatch: 3 },
      { rank: 0, microBatch: 4 },
    ]);
    expect(Array.from(a[0]!.indices!)).toEqual([100, 101, 102, 103]);
    expect(Array.from(a[1]!.indices!)).toEqual([200, 201, 202]);
  });

  it("leaves unchecked a micro-batch larger than its checker's, and audits nothing with one rank", () => {
    const a = auditRequests([slice(0, 8, 2), slice(1, 8, 8)]);
    expect(a[0]!.indices).toBeNull();
    expect(a[1]!.indices).toHaveLength(2);
    expect(auditRequests([slice(0, 8, 8)])).toEqual([]);
  });

  it('asks every rank to recompute its own first micro-batch too on a self-check, and only then', () => {
    expect(auditRequests([slice(0, 8, 4), slice(1, 8, 4)], true).map((x) => x.request.self)).toEqual([
      true,
      true,
    ]);
    expect(auditRequests([slice(0, 8, 4), slice(1, 8, 4)]).every((x) => !('self' in x.request))).toBe(true);
    expect(auditRequests([slice(0, 8, 8)], true)).toEqual([]);
  });
});
