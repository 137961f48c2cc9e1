import { describe, expect, it } from 'vitest';
import { loadFashionMnist } from './fashion-mnist';
import type { FashionMnistSplit } from './fashion-mnist';
import { syntheticSplit, writeSyntheticFashionMnist } from './synthetic';
import { useTempDirs } from './test-tmp';

const tempDir = useTempDirs();

/** Accuracy of a nearest-centroid classifier trained on `train`, measured on `test`. */
function nearestCentroidAccuracy(train: FashionMnistSplit, test: FashionMnistSplit): number {
  const px = 784;
  const sums = Array.from({ length: 10 }, () => new Float64Array(px));
  const counts = new Array<number>(10).fill(0);
  for (let i = 0; i < train.count; i++) {
    const c = train.labels[i]!;
    counts[c]!++;
    for (let p = 0; p < px; p++) sums[c]![p]! += train.images[i * px + p]!;
  }
  let correct = 0;
  for (let i = 0; i < test.count; i++) {
    let best = -1;
    let bestDist = Infinity;
    for (let c = 0; c < 10; c++) {
      let d = 0;
      for (let p = 0; p < px; p++) d += (test.images[i * px + p]! - sums[c]![p]! / counts[c]!) ** 2;
      if (d < bestDist) [best, bestDist] = [c, d];
    }
    if (best === test.labels[i]) correct++;
  }
  return correct / test.count;
}

describe('synthetic Fashion-MNIST', () => {
  it('is learnable: a nearest-centroid classifier scores far above the 10% of chance', () => {
    expect(nearestCentroidAccuracy(syntheticSplit(200, 1, 0), syntheticSplit(100, 1, 1))).toBeGreaterThan(
      0.9,
    );
  });

  it('has balanced labels 0..9', () => {
    const { labels } = syntheticSplit(95, 3);
    const perClass = new Array<number>(10).fill(0);
    for (const l of labels) perClass[l]!++;
    expect(perClass).toEqual([10, 10, 10, 10, 10, 9, 9, 9, 9, 9]);
  });

  it('is deterministic per seed and differs between seeds and splits', () => {
    expect(syntheticSplit(20, 4).images).toEqual(syntheticSplit(20, 4).images);
    expect(syntheticSplit(20, 4).images).not.toEqual(syntheticSplit(20, 5).images);
    expect(syntheticSplit(20, 4, 0).images).not.toEqual(syntheticSplit(20, 4, 1).images);
  });

  it('writes four files the loader reads back, with the returned hashes', async () => {
    const dir = await tempDir();
    const sha256 = await writeSyntheticFashionMnist(dir, { train: 64, test: 32, seed: 9 });
    const ds = await loadFashionMnist({ dataDir: dir, env: {}, sha256 });
    expect([ds.train.count, ds.test.count]).toEqual([64, 32]);
    expect(ds.train.images).toEqual(syntheticSplit(64, 9, 0).images);
    expect(ds.test.labels).toEqual(syntheticSplit(32, 9, 1).labels);
  });
});
