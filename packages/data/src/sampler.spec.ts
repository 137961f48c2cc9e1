import { describe, expect, it } from 'vitest';
import { isDdpError } from '@tfjs-ddp/core';
import { epochOrder, evalShards, globalBatches, splitBatch, splitCounts, stepsPerEpoch } from './sampler';

function isPermutation(order: Uint32Array, count: number): boolean {
  const seen = new Uint8Array(count);
  for (const i of order) {
    if (i >= count || seen[i]) return false;
    seen[i] = 1;
  }
  return order.length === count;
}

describe('epochOrder', () => {
  it('returns a permutation of 0..count-1 for small and large counts', () => {
    for (const count of [0, 1, 2, 7, 1000, 60_000])
      expect(isPermutation(epochOrder(count, 3, 0), count)).toBe(true);
  });

  it('gives the same permutation for the same seed and epoch on every call', () => {
    expect(epochOrder(5000, 42, 3)).toEqual(epochOrder(5000, 42, 3));
  });

  it('pins the permutation so a PRNG change cannot silently reshuffle every run', () => {
    expect(Array.from(epochOrder(10, 42, 0))).toEqual(PINNED_42_0);
  });

  it('gives different permutations for different epochs and different seeds', () => {
    const base = epochOrder(1000, 1, 0);
    expect(epochOrder(1000, 1, 1)).not.toEqual(base);
    expect(epochOrder(1000, 2, 0)).not.toEqual(base);
    expect(epochOrder(1000, 1 + 2 ** 32, 0)).not.toEqual(base);
  });

  it('moves most elements, so it is a real shuffle', () => {
    const order = epochOrder(10_000, 7, 0);
    const fixed = order.filter((v, i) => v === i).length;
    expect(fixed).toBeLessThan(20);
  });

  it('returns the identity when shuffle is off', () => {
    expect(Array.from(epochOrder(5, 9, 4, false))).toEqual([0, 1, 2, 3, 4]);
  });

  it('rejects a negative or fractional count with E_CONFIG', () => {
    expect(() => epochOrder(-1, 0, 0)).toThrow(/E_CONFIG/);
    expect(() => epochOrder(1.5, 0, 0)).toThrow(/E_CONFIG/);
  });
});

describe('globalBatches', () => {
  const order = epochOrder(10, 0, 0, false);

  it('keeps the last partial batch by default, so every sample is seen once', () => {
    const batches = globalBatches(order, 4);
    expect(batches.map((b) => Array.from(b))).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ]);
    expect(stepsPerEpoch(10, 4)).toBe(3);
  });

  it('drops the last partial batch with dropLast', () => {
    expect(globalBatches(order, 4, true).map((b) => b.length)).toEqual([4, 4]);
    expect(stepsPerEpoch(10, 4, true)).toBe(2);
  });

  it('makes no partial batch when the count divides evenly', () => {
    expect(globalBatches(order, 5).map((b) => b.length)).toEqual([5, 5]);
  });

  it('rejects a non-positive batch size with E_CONFIG', () => {
    expect(() => globalBatches(order, 0)).toThrow(/E_CONFIG/);
  });
});

describe('splitCounts and splitBatch', () => {
  it('sum exactly to the batch for many sizes and weights', () => {
    const weightSets = [[1], [1, 1], [3, 1], [1, 2, 3], [5, 0, 5], [7, 3, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1]];
    for (const weights of weightSets) {
      for (let total = 0; total <= 100; total++) {
        const counts = splitCounts(total, weights);
        expect(counts.reduce((a, b) => a + b, 0)).toBe(total);
      }
    }
  });

  it('are exactly proportional when the batch divides evenly', () => {
    expect(splitCounts(120, [1, 2, 3])).toEqual([20, 40, 60]);
    expect(splitCounts(256, [1, 1, 1, 1])).toEqual([64, 64, 64, 64]);
  });

  it('stay within one sample of the exact share', () => {
    const weights = [7, 3, 1, 1];
    for (let total = 12; total <= 200; total++) {
      splitCounts(total, weights).forEach((c, r) =>
        expect(Math.abs(c - (total * weights[r]!) / 12)).toBeLessThan(1),
      );
    }
  });

  it('give the leftover samples to the largest remainders, ties to the lower rank', () => {
    expect(splitCounts(10, [1, 1, 1])).toEqual([4, 3, 3]);
    expect(splitCounts(11, [1, 1, 1])).toEqual([4, 4, 3]);
    expect(splitCounts(10, [1, 2, 2])).toEqual([2, 4, 4]);
    expect(splitCounts(7, [1, 2])).toEqual([2, 5]);
  });

  it('give 0 to a zero-weight rank and at least 1 to every other rank when the batch allows', () => {
    expect(splitCounts(9, [4, 0, 5])).toEqual([4, 0, 5]);
    expect(splitCounts(11, [10, 1])).toEqual([10, 1]);
    expect(splitCounts(3, [100, 1, 1])).toEqual([1, 1, 1]);
    expect(splitCounts(5, [100, 1, 1])).toEqual([3, 1, 1]);
  });

  it('leave some positive-weight ranks empty only for a batch smaller than their number', () => {
    expect(splitCounts(2, [1, 1, 1])).toEqual([1, 1, 0]);
  });

  it('split a batch into contiguous slices that concatenate back to it', () => {
    const batch = epochOrder(50, 1, 0).subarray(0, 10);
    const slices = splitBatch(batch, [2, 1, 1]);
    expect(slices.map((s) => s.length)).toEqual([5, 3, 2]);
    expect(slices.flatMap((s) => Array.from(s))).toEqual(Array.from(batch));
  });

  it('reject negative, fractional or all-zero weights with E_CONFIG', () => {
    for (const weights of [[-1, 2], [1.5], [0, 0], []]) {
      let caught: unknown;
      try {
        splitCounts(4, weights);
      } catch (e) {
        caught = e;
      }
      expect(isDdpError(caught, 'E_CONFIG')).toBe(true);
    }
  });
});

describe('evalShards', () => {
  it('cover 0..count-1 exactly once for world sizes 1..8, including count < worldSize', () => {
    for (let world = 1; world <= 8; world++) {
      for (const count of [0, 1, 3, 7, 8, 9, 100, 10_000]) {
        const hits = new Uint8Array(count);
        let next = 0;
        for (let rank = 0; rank < world; rank++) {
          const { start, end } = evalShards(count, world, rank);
          expect(start).toBe(next); // contiguous and in rank order
          for (let i = start; i < end; i++) hits[i]!++;
          next = end;
        }
        expect(next).toBe(count);
        expect(hits.every((h) => h === 1)).toBe(true);
      }
    }
  });

  it('give shard sizes that differ by at most one, larger ones first', () => {
    expect(evalShards(10, 4).map((s) => s.end - s.start)).toEqual([3, 3, 2, 2]);
    expect(evalShards(2, 4).map((s) => s.end - s.start)).toEqual([1, 1, 0, 0]);
  });

  it('reject a rank outside the world with E_CONFIG', () => {
    expect(() => evalShards(10, 2, 2)).toThrow(/E_CONFIG/);
    expect(() => evalShards(10, 0)).toThrow(/E_CONFIG/);
  });
});

const PINNED_42_0 = [4, 1, 9, 8, 3, 2, 5, 6, 7, 0];
