import { describe, expect, it } from 'vitest';
import { gatherImages, gatherLabels } from './gather';
import { syntheticSplit } from './synthetic';

describe('gatherImages and gatherLabels', () => {
  const split = syntheticSplit(10, 2);

  it('copy the requested samples back to back, in the requested order', () => {
    const images = gatherImages(split, Uint32Array.of(7, 2, 7));
    expect(images.length).toBe(3 * 784);
    expect(images.subarray(0, 784)).toEqual(split.images.subarray(7 * 784, 8 * 784));
    expect(images.subarray(784, 1568)).toEqual(split.images.subarray(2 * 784, 3 * 784));
    expect(Array.from(gatherLabels(split, [7, 2, 7]))).toEqual([
      split.labels[7],
      split.labels[2],
      split.labels[7],
    ]);
  });

  it('return empty arrays for an empty micro-batch', () => {
    expect(gatherImages(split, []).length).toBe(0);
    expect(gatherLabels(split, []).length).toBe(0);
  });

  it('reject an index outside the split, hinting at mismatched datasets', () => {
    expect(() => gatherImages(split, [10])).toThrow(
      /E_INTERNAL: sample index 10 is outside the split \(10 samples\).*--data-dir/,
    );
    expect(() => gatherLabels(split, [-1])).toThrow(/E_INTERNAL/);
  });
});
