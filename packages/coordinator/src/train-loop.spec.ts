import { describe, expect, it } from 'vitest';
import { batchPlan } from './loop/batch-plan';

describe('batchPlan', () => {
  it('splits the global batch by capacity and accumulates where a share exceeds the micro-batch', () => {
    expect(batchPlan(256, [150, 50])).toEqual([
      { rank: 0, capacity: 150, samples: 192, micro_batch: 150, accumulation: 2 },
      { rank: 1, capacity: 50, samples: 64, micro_batch: 50, accumulation: 2 },
    ]);
    // After a back-off on rank 1: same shares, smaller micro-batch there.
    expect(batchPlan(256, [150, 50], [150, 25])[1]).toEqual({ rank: 1, capacity: 50, samples: 64, micro_batch: 25, accumulation: 3 });
    expect(batchPlan(48, [1000, 1000]).map((p) => [p.samples, p.micro_batch, p.accumulation])).toEqual([
      [24, 24, 1],
      [24, 24, 1],
    ]);
  });
});
