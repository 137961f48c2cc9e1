// The idxData helper over small IDX files written to a temp dir (raw, .gz, other element types,
// damaged ones), and over Debian's real Fashion-MNIST where it is installed: the same samples as
// the data package's loader gives the built-in task.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs-core';
import { isDdpError } from '@tfjs-ddp/core';
import { DEBIAN_FASHION_MNIST_DIR, encodeIdx, loadFashionMnist } from '@tfjs-ddp/data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../backend/select-backend';
import { taskContext, type TaskWorkerSettings } from '../open-task';
import { idxData, type IdxDataOptions } from './idx-data';

const dir = mkdtempSync(join(tmpdir(), 'tfjs-ddp-idx-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(() => selectBackend('cpu'));

function file(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, name.endsWith('.gz') ? gzipSync(bytes) : bytes);
  return path;
}

// 5 images of 2×3 ubyte pixels (pixel j of image i = 10·i + j) and their labels 0, 2, 1, 2, 0.
const pixels = Uint8Array.from({ length: 5 * 6 }, (_, k) => 10 * Math.floor(k / 6) + (k % 6));
const images = file('images-idx3-ubyte', encodeIdx([5, 2, 3], pixels));
const labels = file('labels-idx1-ubyte.gz', encodeIdx([5], [0, 2, 1, 2, 0]));

function taskError(f: () => unknown): Error {
  let e: unknown;
  try {
    f();
  } catch (x) {
    e = x;
  }
  expect(isDdpError(e, 'E_TASK'), String(e)).toBe(true);
  expect(String(e)).not.toMatch(/E_DATA_/);
  return e as Error;
}

describe('idxData', () => {
  it('gives [n, rows, cols, 1] float32 images scaled to [0, 1] and int32 class ids, in the order asked', async () => {
    const d = idxData(tf, { trainImages: images, trainLabels: labels });
    expect([d.train.size, d.test, d.classes, d.sampleShape]).toEqual([5, null, ['0', '1', '2'], [2, 3, 1]]);
    const b = await d.train.batch(Uint32Array.of(3, 0));
    expect([b.xs.shape, b.xs.dtype, b.ys.shape, b.ys.dtype]).toEqual([[2, 2, 3, 1], 'float32', [2], 'int32']);
    const expected = [30, 31, 32, 33, 34, 35, 0, 1, 2, 3, 4, 5].map((p) => Math.fround(p / 255));
    expect(Array.from(await b.xs.data())).toEqual(expected);
    expect(Array.from(await b.ys.data())).toEqual([2, 0]);
  });

  it('keeps the raw values with scale: false, and reads a test split', async () => {
    const d = idxData(tf, {
      trainImages: images,
      trainLabels: labels,
      testImages: file('t-images.gz', encodeIdx([2, 2, 3], pixels.subarray(0, 12))),
      testLabels: file('t-labels', encodeIdx([2], [4, 1])),
      scale: false,
    });
    expect([d.test?.size, d.classes.length]).toEqual([2, 5]);
    const b = await d.test!.batch(Uint32Array.of(1));
    expect(Array.from(await b.xs.data())).toEqual([10, 11, 12, 13, 14, 15]);
    expect(Array.from(await b.ys.data())).toEqual([1]);
  });

  it('reads float samples of any shape unscaled, and short labels', async () => {
    const values = [0.5, -1.25, 3, 1e-3, 7, -2];
    const d = idxData(tf, {
      trainImages: file('f-idx2-float.gz', encodeIdx([3, 2], values, 0x0d)),
      trainLabels: file('s-idx1-short', encodeIdx([3], [1, 300, 0], 0x0b)),
    });
    expect([d.sampleShape, d.classes.length]).toEqual([[2], 301]);
    const b = await d.train.batch(Uint32Array.of(2, 1));
    expect(b.xs.shape).toEqual([2, 2]);
    expect(Array.from(await b.xs.data())).toEqual([7, -2, 3, 1e-3].map(Math.fround));
    expect(Array.from(await b.ys.data())).toEqual([0, 300]);
    const e = taskError(() =>
      idxData(tf, {
        trainImages: join(dir, 'f-idx2-float.gz'),
        trainLabels: join(dir, 's-idx1-short'),
        scale: true,
      }),
    );
    expect(e.message).toMatch(
      /scale asks ÷ 255 of .*f-idx2-float\.gz, whose elements are floats, not ubytes; leave scale out/,
    );
  });

  it('refuses a labels file whose count is not the images count, naming both files', () => {
    const e = taskError(() =>
      idxData(tf, { trainImages: images, trainLabels: file('l4', encodeIdx([4], [0, 1, 0, 1])) }),
    );
    expect(e.message).toContain(`${join(dir, 'l4')} holds 4 labels but ${images} 5 images`);
    expect(e.message).toMatch(/; pair each images file with its own labels file$/);
  });

  it('names the file and what is wrong in a damaged, missing or swapped file', () => {
    const good = encodeIdx([5, 2, 3], pixels);
    const cut = file('cut.gz', good.subarray(0, good.length - 3));
    expect(taskError(() => idxData(tf, { trainImages: cut, trainLabels: labels })).message).toMatch(
      /^E_TASK: idxData: .*cut\.gz has a 27-byte body, expected 5×2×3 = 30 bytes \(file is truncated\); every host needs the file/,
    );
    const png = file('x.png', Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0));
    expect(taskError(() => idxData(tf, { trainImages: png, trainLabels: labels })).message).toMatch(
      /x\.png has magic 0x89504e47, not an IDX file/,
    );
    const odd = Uint8Array.from(good);
    odd[2] = 0x0a;
    expect(
      taskError(() => idxData(tf, { trainImages: file('odd', odd), trainLabels: labels })).message,
    ).toMatch(/odd has IDX element type 0x0a, expected 0x08 \(uint8\), 0x09 \(byte\)/);
    const gz = gzipSync(good);
    writeFileSync(join(dir, 'half.gz'), gz.subarray(0, 20));
    expect(
      taskError(() => idxData(tf, { trainImages: join(dir, 'half.gz'), trainLabels: labels })).message,
    ).toMatch(/half\.gz is a truncated gzip file/);
    expect(
      taskError(() => idxData(tf, { trainImages: join(dir, 'nope'), trainLabels: labels })).message,
    ).toMatch(/cannot read .*nope \(ENOENT\)/);
    expect(taskError(() => idxData(tf, { trainImages: labels, trainLabels: images })).message).toMatch(
      /labels-idx1-ubyte\.gz has 1 dim \[5\]; expected a count and a sample shape/,
    );
    expect(taskError(() => idxData(tf, { trainImages: images, trainLabels: images })).message).toMatch(
      /images-idx3-ubyte has dims \[5,2,3\]; a labels file has 1/,
    );
  });

  it('refuses labels that are not class ids, a test images file without labels, and a test split of another shape', () => {
    const f = file('fl', encodeIdx([5], [0, 1, 1.5, 0, 1], 0x0d));
    expect(taskError(() => idxData(tf, { trainImages: images, trainLabels: f })).message).toMatch(
      /fl label 2 is 1\.5, not a class id/,
    );
    const b = file('neg', encodeIdx([5], [0, 1, 0, -1, 1], 0x09));
    expect(taskError(() => idxData(tf, { trainImages: images, trainLabels: b })).message).toMatch(
      /neg label 3 is -1, not a class id/,
    );
    expect(
      taskError(() => idxData(tf, { trainImages: images, trainLabels: labels, testImages: images })).message,
    ).toMatch(/testLabels not given; give both test files or neither/);
    const wide = file('wide', encodeIdx([1, 3, 2], pixels.subarray(0, 6)));
    const one = file('one', encodeIdx([1], [0]));
    expect(
      taskError(() =>
        idxData(tf, { trainImages: images, trainLabels: labels, testImages: wide, testLabels: one }),
      ).message,
    ).toMatch(/wide holds ubytes of shape \[3,2,1\] but .*images-idx3-ubyte ubytes of shape \[2,3,1\]/);
    expect(taskError(() => idxData(tf, {} as IdxDataOptions)).message).toMatch(/trainImages is undefined/);
  });

  it('is ctx.helpers.idxData', async () => {
    const ctx = taskContext(
      { seed: 1, resize: 28, pool: 'avg', dataDir: null } as unknown as TaskWorkerSettings,
      0,
      {},
    );
    const d = ctx.helpers.idxData({ trainImages: images, trainLabels: labels });
    expect(Array.from(await (await d.train.batch(Uint32Array.of(4))).ys.data())).toEqual([0]);
  });
});

describe('idxData on the real Fashion-MNIST', () => {
  const has = existsSync(join(DEBIAN_FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));
  if (!has)
    console.log(
      `skipped: no Fashion-MNIST in ${DEBIAN_FASHION_MNIST_DIR} (apt install dataset-fashion-mnist)`,
    );

  it.runIf(has)("gives the data package loader's pixels and labels, scaled to [0, 1]", async () => {
    const file = (n: string) =>
      join(DEBIAN_FASHION_MNIST_DIR, `${n}-idx${n.endsWith('labels') ? 1 : 3}-ubyte.gz`);
    const d = idxData(tf, {
      trainImages: file('train-images'),
      trainLabels: file('train-labels'),
      testImages: file('t10k-images'),
      testLabels: file('t10k-labels'),
    });
    const ref = await loadFashionMnist({ dataDir: DEBIAN_FASHION_MNIST_DIR, env: {}, download: false });
    expect([d.train.size, d.test?.size, d.classes.length, d.sampleShape]).toEqual([
      60_000,
      10_000,
      10,
      [28, 28, 1],
    ]);
    for (const [split, s, i] of [
      [d.train, ref.train, 0],
      [d.train, ref.train, 59_999],
      [d.test!, ref.test, 0],
    ] as const) {
      const b = await split.batch(Uint32Array.of(i));
      const pixels = Array.from(s.images.subarray(i * 784, (i + 1) * 784), (p) => Math.fround(p / 255));
      expect(pixels.some((p) => p > 0)).toBe(true);
      expect(Array.from(await b.xs.data())).toEqual(pixels);
      expect(Array.from(await b.ys.data())).toEqual([s.labels[i]]);
    }
  });
});
