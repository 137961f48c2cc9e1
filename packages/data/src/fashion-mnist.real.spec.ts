// Runs only where Debian's dataset-fashion-mnist package is installed: the real files, verified.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadFashionMnist } from './fashion-mnist';
import { DEBIAN_FASHION_MNIST_DIR } from './fashion-mnist-files';

function perClass(labels: Uint8Array): number[] {
  const counts = new Array<number>(10).fill(0);
  for (const l of labels) counts[l]!++;
  return counts;
}

describe('the real Fashion-MNIST', () => {
  it.runIf(existsSync(DEBIAN_FASHION_MNIST_DIR))(
    'loads from the Debian package with checksums verified: 60,000/10,000 images, 6,000/1,000 per class',
    async () => {
      const ds = await loadFashionMnist({
        env: {},
        cacheDir: '/nonexistent/tfjs-ddp-cache',
        download: false,
      });
      expect([ds.origin, ds.source]).toEqual(['debian', DEBIAN_FASHION_MNIST_DIR]);
      expect([ds.train.count, ds.test.count]).toEqual([60_000, 10_000]);
      expect(ds.train.images.length).toBe(60_000 * 784);
      expect(perClass(ds.train.labels)).toEqual(new Array(10).fill(6_000));
      expect(perClass(ds.test.labels)).toEqual(new Array(10).fill(1_000));
    },
  );
});
