import { describe, expect, it } from 'vitest';
import { addInto, addIntoJs, hasSimdAdd } from './add-into';
import { rng } from './describe-ring-allreduce';

/** Awkward float32 values mixed into random ones: signed zeros, infinities, subnormals, extremes. */
const SPECIAL = [0, -0, Infinity, -Infinity, 1e-45, -1e-45, 1.1754942e-38, 3.4028235e38, -3.4028235e38];

function values(length: number, seed: number): Float32Array {
  const rand = rng(seed);
  return Float32Array.from({ length }, () =>
    rand() < 0.1
      ? SPECIAL[Math.floor(rand() * SPECIAL.length)]!
      : (rand() * 2 - 1) * 10 ** (rand() * 20 - 10),
  );
}

/** Index of the first element that differs in bits (both NaN counts as equal: NaN payloads may differ). */
function firstMismatch(a: Float32Array, b: Float32Array): number {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < a.length; i++)
    if (x[i] !== y[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return i;
  return -1;
}

describe('addInto', () => {
  it('runs on WebAssembly SIMD in this Node', () => {
    expect(hasSimdAdd).toBe(true);
  });

  it.each([0, 1, 3, 63, 64, 65, 1000, 16_383, 16_384, 16_385, 100_003, 131_072])(
    'gives the same bits as the JavaScript loop for %i floats',
    (length) => {
      const src = values(length, length + 1);
      const want = values(length, length + 2);
      const got = want.slice();
      addIntoJs(want, src);
      addInto(got, src);
      expect(firstMismatch(got, want)).toBe(-1);
    },
  );

  it('works on subarrays at any float offset and leaves the floats around them alone', () => {
    const big = values(50_000, 7);
    const src = values(50_000, 8);
    for (const [offset, length] of [
      [1, 40_000],
      [3, 20_001],
      [17, 99],
    ] as const) {
      const want = big.slice();
      const got = big.slice();
      addIntoJs(want.subarray(offset, offset + length), src.subarray(0, length));
      addInto(got.subarray(offset, offset + length), src.subarray(0, length));
      expect(firstMismatch(got, want)).toBe(-1);
    }
  });

  it('also writes the sums to a third array when given one, on both paths', () => {
    for (const length of [10, 40_001]) {
      const src = values(length, 3);
      const dst = values(length, 4);
      const also = new Float32Array(length);
      addInto(dst, src, also);
      expect(firstMismatch(also, dst)).toBe(-1);
      const want = values(length, 4);
      addIntoJs(want, src);
      expect(firstMismatch(dst, want)).toBe(-1);
    }
  });
});
