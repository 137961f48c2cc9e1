import { describe, expect, it } from 'vitest';
import { allFinite } from './worker-engine';

describe('allFinite (is a summed gradient safe to apply?)', () => {
  it('accepts finite values, the float32 extremes included', () => {
    expect(allFinite(new Float32Array([0, -1, 3.4e38, -3.4e38, 1e-45]))).toBe(true);
    expect(allFinite(Float32Array.from({ length: 758_226 }, () => 3.4e38))).toBe(true);
    expect(allFinite(new Float32Array(0))).toBe(true);
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])('rejects %d anywhere', (bad) => {
    // Every one of the four partial sums, and the tail past the last whole group of four.
    for (const [n, at] of [
      [1000, 0],
      [1000, 1],
      [1000, 2],
      [1000, 3],
      [1000, 500],
      [1000, 999],
      [1003, 1002],
      [3, 1],
    ]) {
      const v = new Float32Array(n!).fill(1);
      v[at!] = bad;
      expect(allFinite(v)).toBe(false);
    }
  });

  it('rejects +Infinity and -Infinity together (their sum is NaN)', () => {
    expect(allFinite(new Float32Array([Number.POSITIVE_INFINITY, 1, Number.NEGATIVE_INFINITY]))).toBe(false);
  });
});
