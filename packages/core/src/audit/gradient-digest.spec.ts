import { describe, expect, it } from 'vitest';
import {
  compareDigests,
  digestChunks,
  digestToWire,
  DIGEST_CHUNKS,
  gradientDigest,
  readAuditReport,
  readAuditRequest,
  readGradientDigest,
} from './gradient-digest';

/** A gradient-like vector: small values of both signs, reproducible. */
function gradient(n: number, seed = 1): Float32Array {
  let x = seed;
  return Float32Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return (x / 2 ** 31 - 0.5) * 1e-2;
  });
}

/** `v` with one bit of element `at` flipped. */
function flipped(v: Float32Array, at: number, bit: number): Float32Array {
  const out = v.slice();
  const bits = new Uint32Array(out.buffer);
  bits[at] = bits[at]! ^ (1 << bit);
  return out;
}

describe('the gradient digest', () => {
  it('sums every value once, in float64, over at most 64 contiguous chunks', () => {
    const v = gradient(1000);
    const d = gradientDigest(v);
    expect(d.n).toBe(1000);
    expect(d.sums).toHaveLength(DIGEST_CHUNKS);
    expect(d.sums.reduce((a, b) => a + b, 0)).toBeCloseTo(
      v.reduce((a, b) => a + b, 0),
      9,
    );
    expect(d.abs.reduce((a, b) => a + b, 0)).toBeCloseTo(
      v.reduce((a, b) => a + Math.abs(b), 0),
      9,
    );
    expect(gradientDigest(new Float32Array(5)).sums).toHaveLength(5);
    expect(digestChunks(0)).toBe(0);
  });

  it.each<[string, (v: Float32Array) => Float32Array, boolean]>([
    ['the same values agree', (v) => v.slice(), true],
    [
      'float32 rounding on another device (each value moved by 1 ulp) agrees',
      (v) => v.map((x) => x * (1 + 2 ** -23)),
      true,
    ],
    [
      'relative noise of 1e-5 per value agrees',
      (v) => v.map((x, i) => x * (1 + (i % 2 === 0 ? 1e-5 : -1e-5))),
      true,
    ],
    ['the top exponent bit flipped (x · 2^128) disagrees', (v) => flipped(v, 123, 30), false],
    ['a lower exponent bit flipped (x · 2^16) disagrees', (v) => flipped(v, 4567, 27), false],
    [
      'one value changed by 100 × its size disagrees',
      (v) => v.map((x, i) => (i === 999 ? x * 101 : x)),
      false,
    ],
    ['a NaN where the other is finite disagrees', (v) => v.map((x, i) => (i === 0 ? Number.NaN : x)), false],
    [
      'a sign flip of the largest value disagrees',
      (v) => v.map((x, i) => (i === 77 ? -x : x)).map((x, i) => (i === 77 ? x * 50 : x)),
      false,
    ],
  ])('%s', (_name, change, agree) => {
    const v = gradient(10_000, 7);
    const c = compareDigests(gradientDigest(v), gradientDigest(change(v)));
    expect(c.agree).toBe(agree);
    if (!agree) expect(c.chunk).toBeGreaterThanOrEqual(0);
  });

  it('digests of different lengths disagree, and zero chunks agree', () => {
    expect(
      compareDigests(gradientDigest(new Float32Array(10)), gradientDigest(new Float32Array(11))).agree,
    ).toBe(false);
    expect(
      compareDigests(gradientDigest(new Float32Array(100)), gradientDigest(new Float32Array(100))).agree,
    ).toBe(true);
  });

  it('travels as JSON and is read back the same, non-finite sums as NaN', () => {
    const d = gradientDigest(Float32Array.from([1, 2, Number.POSITIVE_INFINITY, 4]));
    const back = readGradientDigest(JSON.parse(JSON.stringify(digestToWire(d))), 'x');
    expect(back.n).toBe(4);
    expect(back.sums[2]).toBeNaN();
    expect(back.sums[3]).toBe(4);
  });

  it.each<[string, unknown]>([
    ['not an object', [1]],
    ['no n', { sums: [], abs: [] }],
    ['a negative n', { n: -1, sums: [], abs: [] }],
    ['too few chunks', { n: 3, sums: [1, 2], abs: [1, 2, 3] }],
    ['a string in the sums', { n: 1, sums: ['1'], abs: [1] }],
  ])('a digest that is %s is refused with E_PROTOCOL', (_name, v) => {
    expect(() => readGradientDigest(v, "rank 1's digest")).toThrow(/^E_PROTOCOL: rank 1's digest/);
  });

  it('audit requests and reports are read strictly', () => {
    expect(readAuditRequest(undefined)).toBeUndefined();
    expect(readAuditRequest({ rank: 1, microBatch: 8 })).toEqual({ rank: 1, microBatch: 8 });
    expect(readAuditRequest({ rank: 1, microBatch: 8, self: true })).toEqual({
      rank: 1,
      microBatch: 8,
      self: true,
    });
    for (const bad of [
      { rank: 1, microBatch: 8, self: false },
      { rank: 1, microBatch: 8, self: 1 },
      null,
      { rank: -1, microBatch: 8 },
      { rank: 1, microBatch: 0 },
      { rank: 1.5, microBatch: 8 },
      'x',
    ])
      expect(() => readAuditRequest(bad)).toThrow(/E_PROTOCOL/);
    const own = digestToWire(gradientDigest(gradient(10)));
    expect(readAuditReport({ own, checked: null }, 'r')).toMatchObject({ checked: null });
    expect(readAuditReport({ own, checked: { rank: 0, digest: own } }, 'r')?.checked?.rank).toBe(0);
    expect(readAuditReport({ own, checked: null, self: own }, 'r')?.self?.n).toBe(10);
    expect(readAuditReport({ own, checked: null }, 'r')).not.toHaveProperty('self');
    for (const bad of [
      { own, checked: null, self: null },
      { own, checked: null, self: { n: 10 } },
      null,
      { own },
      { own, checked: { rank: 'a', digest: own } },
      { own: 1, checked: null },
    ])
      expect(() => readAuditReport(bad, 'r')).toThrow(/E_PROTOCOL/);
  });
});
