// How the webgpu filter gradient cuts its output rows (no GPU needed): the ranges cover the rows
// exactly, each but the last sums at least FILTER_GRAD_MIN_PIXELS output pixels, and the DenseNet's layers at
// batch 64 reach the thread target that a serial loop over all rows would miss by 40–170×.
import { backend_util } from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  conv2dBackpropFilterProgram,
  FILTER_GRAD_MIN_PIXELS,
  FILTER_GRAD_TARGET_THREADS,
  filterGradSplits,
} from './conv2d-backprop-filter-program';

describe('filterGradSplits', () => {
  it.each([
    [784, 64 * 48, 48],
    [2_888, 64 * 24, 24],
    [1_176, 64 * 24, 24],
    [1_736, 64 * 3, 3],
    [100, 7, 5],
    [1, 1, 1],
    [50_000, 4_096, 64],
  ])('%i blocks over %i rows of %i pixels: ranges cover the rows, none too short', (blocks, rows, width) => {
    const { splits, rowsPerSplit } = filterGradSplits(blocks, rows, width);
    expect(splits).toBeGreaterThanOrEqual(1);
    expect((splits - 1) * rowsPerSplit).toBeLessThan(rows);
    expect(splits * rowsPerSplit).toBeGreaterThanOrEqual(rows);
    if (splits > 1) {
      expect(rowsPerSplit * width).toBeGreaterThanOrEqual(FILTER_GRAD_MIN_PIXELS);
    }
    if (blocks >= FILTER_GRAD_TARGET_THREADS) expect(splits).toBe(1);
  });

  it("the seed's layers at batch 64, 96×96: the stem and the 24×24 convs reach the thread target", () => {
    const layer = (
      x: [number, number, number, number],
      f: [number, number, number, number],
      s: number,
      pad: 'same' | 'valid',
    ) => conv2dBackpropFilterProgram(backend_util.computeConv2DInfo(x, f, [s, s], 1, pad), true);
    for (const plan of [
      layer([64, 102, 102, 1], [7, 7, 1, 64], 2, 'valid'),
      layer([64, 24, 24, 160], [3, 3, 160, 32], 1, 'same'),
      layer([64, 24, 24, 192], [1, 1, 192, 96], 1, 'valid'),
    ]) {
      expect(plan.splits).toBeGreaterThan(1);
      expect(plan.reduce).toBeDefined();
      const threads = plan.uniforms[12]!.data[0]!;
      expect(threads).toBeGreaterThanOrEqual(FILTER_GRAD_TARGET_THREADS * 0.9);
    }
    const tiny = layer([2, 3, 3, 216], [3, 3, 216, 32], 1, 'same');
    expect(tiny.splits).toBe(1);
    expect(tiny.reduce).toBeUndefined();
    expect(tiny.partial).toBe(0);
  });
});
