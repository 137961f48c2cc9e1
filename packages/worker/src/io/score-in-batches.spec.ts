// scoreInBatches (evaluate-saved.ts), the loop behind `tfjs-ddp eval`: a batch that runs out of memory
// is scored again in halves and the sums stay those of every sample once; what is not an
// out-of-memory, or leaves the backend unusable, is not retried.
import type { EvalOutcome } from '@tfjs-ddp/core';
import { describe, expect, it } from 'vitest';
import { GPU_DEVICE_LOST, GPU_OUT_OF_MEMORY } from '../backend/webgpu-scopes';
import { scoreInBatches } from './evaluate-saved';

/** Scores sample i as loss i, correct when i is even, metric 2i; batches over `fits` samples fail with `error`. */
function scorer(fits: number, error = `${GPU_OUT_OF_MEMORY}: injected`) {
  const calls: [number, number][] = [];
  const score = (from: number, to: number): Promise<EvalOutcome> => {
    calls.push([from, to]);
    if (to - from > fits) return Promise.reject(new Error(error));
    let lossSum = 0;
    let correct = 0;
    for (let i = from; i < to; i++) {
      lossSum += i;
      correct += i % 2 === 0 ? 1 : 0;
    }
    return Promise.resolve({ lossSum, correct, count: to - from, metrics: [2 * lossSum] });
  };
  return { calls, score };
}

describe('scoreInBatches', () => {
  it('scores every sample once in batches of the asked size', async () => {
    const s = scorer(1000);
    const r = await scoreInBatches(10, { batchSize: 4 }, s.score);
    expect(s.calls).toEqual([
      [0, 4],
      [4, 8],
      [8, 10],
    ]);
    expect(r).toEqual({ lossSum: 45, correct: 5, count: 10, metrics: [90], batchSize: 4 });
  });

  it('halves a batch that runs out of memory, keeps the smaller size, and sums the same', async () => {
    const s = scorer(3);
    const smaller: [number, number][] = [];
    const r = await scoreInBatches(
      11,
      { batchSize: 8, onSmallerBatch: (from, size) => smaller.push([from, size]) },
      s.score,
    );
    expect(smaller).toEqual([
      [0, 4],
      [0, 2],
    ]);
    expect(s.calls).toEqual([
      [0, 8],
      [0, 4],
      [0, 2],
      [2, 4],
      [4, 6],
      [6, 8],
      [8, 10],
      [10, 11],
    ]);
    expect(r).toEqual({ lossSum: 55, correct: 6, count: 11, metrics: [110], batchSize: 2 });
  });

  it('gives up with E_MEMORY when one sample does not fit', async () => {
    await expect(scoreInBatches(5, { batchSize: 4 }, scorer(0).score)).rejects.toMatchObject({
      code: 'E_MEMORY',
      message: expect.stringContaining('scoring one sample (number 0) ran out of memory') as unknown,
    });
  });

  it('does not retry other errors, nor an out-of-memory that left the backend unusable', async () => {
    const bug = scorer(2, 'shapes do not match');
    await expect(scoreInBatches(5, { batchSize: 4 }, bug.score)).rejects.toThrow('shapes do not match');
    expect(bug.calls).toHaveLength(1);
    const lost = scorer(2, `${GPU_DEVICE_LOST} (out of memory)`);
    await expect(scoreInBatches(5, { batchSize: 4 }, lost.score)).rejects.toThrow(GPU_DEVICE_LOST);
    expect(lost.calls).toHaveLength(1);
  });

  it('refuses a batch size that is not a positive integer', async () => {
    await expect(scoreInBatches(5, { batchSize: 0 }, scorer(9).score)).rejects.toMatchObject({
      code: 'E_USAGE',
    });
  });
});
