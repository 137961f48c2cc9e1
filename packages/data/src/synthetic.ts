// A synthetic stand-in for Fashion-MNIST: same files, format and shapes, small and learnable. Class c
// is a bright 5×12 block in cell (row c>>1, column c&1) of a 5×2 grid, jittered by up to one pixel,
// over a dim noisy background; labels are balanced. A nearest-centroid classifier separates the
// classes almost perfectly, so training tests pass well above chance in a few steps. Used by tests in
// every package and by tools/ fixture scripts.

import { join } from 'node:path';
import { DdpError } from '@tfjs-ddp/core';
import { sha256Hex } from './checksum';
import type { FashionMnistSplit } from './fashion-mnist';
import { FASHION_MNIST_CLASSES } from './fashion-mnist';
import { FASHION_MNIST_NAMES } from './fashion-mnist-files';
import type { Sha256Map } from './fashion-mnist-files';
import { writeIdx } from './idx-writer';
import { mixSeed, mulberry32, randomInt } from '@tfjs-ddp/core';
import type { Rng } from '@tfjs-ddp/core';

const SIDE = 28;

/** Options of {@link writeSyntheticFashionMnist}. */
export interface SyntheticOptions {
  /** Number of training images. */
  train: number;
  /** Number of test images. */
  test: number;
  /** Content seed. Default 0. */
  seed?: number;
  /** Write `.gz` files (default true) or raw ones. */
  gzip?: boolean;
}

/**
 * One synthetic split, in memory. Labels are balanced (counts differ by at most one) and shuffled.
 * @param stream distinguishes splits generated from the same seed (train 0, test 1)
 * @throws DdpError E_CONFIG when count is not a non-negative integer
 */
export function syntheticSplit(count: number, seed = 0, stream = 0): FashionMnistSplit {
  if (!Number.isInteger(count) || count < 0)
    throw new DdpError('E_CONFIG', `synthetic count ${count} is not an integer >= 0`);
  const rng = mulberry32(mixSeed(seed, stream));
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) labels[i] = i % FASHION_MNIST_CLASSES;
  for (let i = count - 1; i > 0; i--) {
    const j = randomInt(rng, i + 1);
    [labels[i], labels[j]] = [labels[j]!, labels[i]!];
  }
  const images = new Uint8Array(count * SIDE * SIDE);
  for (let i = 0; i < count; i++)
    drawSample(images.subarray(i * SIDE * SIDE, (i + 1) * SIDE * SIDE), labels[i]!, rng);
  return { images, labels, count };
}

/**
 * Writes the four Fashion-MNIST files with synthetic content into `dir` (created if missing). Load
 * them with `loadFashionMnist({ dataDir: dir, verify: false })`, or with `sha256` set to the returned
 * map to exercise verification.
 * @returns the SHA-256 of each file's decompressed bytes
 * @throws DdpError E_CONFIG when a count is invalid; fs errors pass through
 */
export async function writeSyntheticFashionMnist(dir: string, options: SyntheticOptions): Promise<Sha256Map> {
  const gzip = options.gzip ?? true;
  const seed = options.seed ?? 0;
  const file = (name: string): string => join(dir, gzip ? `${name}.gz` : name);
  const write = async (name: string, dims: number[], data: Uint8Array): Promise<string> =>
    sha256Hex(await writeIdx(file(name), dims, data, { gzip }));
  const train = syntheticSplit(options.train, seed, 0);
  const test = syntheticSplit(options.test, seed, 1);
  const [trainImages, trainLabels, testImages, testLabels] = await Promise.all([
    write(FASHION_MNIST_NAMES.trainImages, [train.count, SIDE, SIDE], train.images),
    write(FASHION_MNIST_NAMES.trainLabels, [train.count], train.labels),
    write(FASHION_MNIST_NAMES.testImages, [test.count, SIDE, SIDE], test.images),
    write(FASHION_MNIST_NAMES.testLabels, [test.count], test.labels),
  ]);
  return {
    trainImages: trainImages!,
    trainLabels: trainLabels!,
    testImages: testImages!,
    testLabels: testLabels!,
  };
}

function drawSample(pixels: Uint8Array, label: number, rng: Rng): void {
  for (let p = 0; p < pixels.length; p++) pixels[p] = randomInt(rng, 48);
  const top = 2 + 5 * (label >> 1) + randomInt(rng, 3) - 1;
  const left = 2 + 12 * (label & 1) + randomInt(rng, 3) - 1;
  for (let y = Math.max(0, top); y < Math.min(SIDE, top + 5); y++) {
    for (let x = Math.max(0, left); x < Math.min(SIDE, left + 12); x++)
      pixels[y * SIDE + x] = 160 + randomInt(rng, 96);
  }
}
