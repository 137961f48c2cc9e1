import { describe, expect, it } from 'vitest';
import { flipExponentBit } from './flip-exponent-bit';

describe('the injected bit flip (TFJS_DDP_INJECT_BITFLIP)', () => {
  it('multiplies the first element below 1 in magnitude by 2^128: finite, and wrong', () => {
    const v = Float32Array.from([0, 1.5, -0.25, 0.5]);
    expect(flipExponentBit(v)).toBe(2);
    expect(v[2]).toBe(-0.25 * 2 ** 128);
    expect(Number.isFinite(v[2]!)).toBe(true);
    expect(Array.from(v.subarray(0, 2))).toEqual([0, 1.5]);
  });

  it('flips element 0 when no element is below 1 (a zero becomes 2)', () => {
    const v = Float32Array.from([0, 0]);
    expect(flipExponentBit(v)).toBe(0);
    expect(v[0]).toBe(2);
  });
});
