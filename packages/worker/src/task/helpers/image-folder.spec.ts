// The imageFolder helper over small PNG and JPEG files written to a temp dir: class ids from the
// sorted sub-folder names, pixels scaled to [0, 1], mixed formats and sizes in one folder, and the
// errors a user's folder can cause.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { isDdpError } from '@tfjs-ddp/core';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../backend/select-backend';
import { imageFolder } from './image-folder';

const root = mkdtempSync(join(tmpdir(), 'tfjs-ddp-image-folder-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(() => selectBackend('cpu'));

/** RGBA bytes of a w×h image of one colour. */
function flat(w: number, h: number, [r, g, b]: [number, number, number]): Buffer {
  const data = Buffer.alloc(4 * w * h);
  for (let p = 0; p < w * h; p++) data.set([r, g, b, 255], 4 * p);
  return data;
}

function png(path: string, w: number, h: number, rgb: [number, number, number]): void {
  const img = new PNG({ width: w, height: h });
  flat(w, h, rgb).copy(img.data);
  writeFileSync(path, PNG.sync.write(img));
}

function jpg(path: string, w: number, h: number, rgb: [number, number, number]): void {
  writeFileSync(path, jpeg.encode({ width: w, height: h, data: flat(w, h, rgb) }, 100).data);
}

function folder(name: string, files: Record<string, (path: string) => void>): string {
  const dir = join(root, name);
  for (const [rel, write] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    write(join(dir, rel));
  }
  return dir;
}

function taskError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(isDdpError(e, 'E_TASK'), String(e)).toBe(true);
    return String(e);
  }
  throw new Error('expected an E_TASK error');
}

describe('imageFolder', () => {
  const red: [number, number, number] = [255, 0, 0];
  const grey: [number, number, number] = [102, 102, 102];

  it('reads PNG and JPEG files side by side, class ids in the sorted order of the sub-folders', () => {
    const dir = folder('mixed', {
      'cat/a.png': (p) => png(p, 4, 3, red),
      'cat/b.JPG': (p) => jpg(p, 4, 3, grey),
      'ant/c.jpeg': (p) => jpg(p, 4, 3, red),
      'ant/notes.txt': (p) => writeFileSync(p, 'not an image, and not listed'),
    });
    const d = imageFolder(tf, { train: dir });
    expect(d.classes).toEqual(['ant', 'cat']);
    expect(d.sampleShape).toEqual([3, 4, 3]);
    expect(d.train.size).toBe(3);
    const { xs, ys } = d.train.batch(Uint32Array.of(0, 1, 2)) as { xs: tf.Tensor; ys: tf.Tensor };
    expect(Array.from(ys.dataSync())).toEqual([0, 1, 1]); // ant/c.jpeg, cat/a.png, cat/b.JPG
    const px = xs.arraySync() as number[][][][];
    expect(px[1]![0]![0]).toEqual([1, 0, 0]); // PNG: exact
    // JPEG at quality 100 is lossy by a step or two of 255 (YCbCr rounding, and red's chroma).
    for (const [i, want] of [
      [0, [1, 0, 0]],
      [2, [0.4, 0.4, 0.4]],
    ] as const)
      px[i]![2]![3]!.forEach((v, c) => expect(Math.abs(v - want[c]!)).toBeLessThan(4 / 255));
  });

  it('resizes images of another size to `size`, and averages R, G and B for one channel', () => {
    const dir = folder('sizes', {
      'a/big.jpg': (p) => jpg(p, 16, 8, grey),
      'b/small.png': (p) => png(p, 2, 2, grey),
    });
    const d = imageFolder(tf, { train: dir, size: [4, 4], channels: 1 });
    expect(d.sampleShape).toEqual([4, 4, 1]);
    const xs = (d.train.batch(Uint32Array.of(0, 1)) as { xs: tf.Tensor }).xs;
    expect(xs.shape).toEqual([2, 4, 4, 1]);
    for (const v of xs.dataSync()) expect(Math.abs(v - 0.4)).toBeLessThan(4 / 255);
  });

  it('names a file that is not an image by its first bytes, whatever its name says', () => {
    const dir = folder('fake', { 'a/x.jpg': (p) => writeFileSync(p, 'GIF89a...') });
    const d = imageFolder.bind(null, tf, { train: dir });
    expect(taskError(d)).toMatch(/x\.jpg is neither a PNG nor a JPEG \(it starts with 0x47494638\)/);
  });

  it('names a JPEG that does not decode, with the decoder’s reason', () => {
    const dir = folder('broken', {
      'a/ok.png': (p) => png(p, 2, 2, red),
      'a/z.jpg': (p) => writeFileSync(p, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3])),
    });
    const d = imageFolder(tf, { train: dir });
    expect(taskError(() => d.train.batch(Uint32Array.of(1)))).toMatch(/z\.jpg is not a readable JPEG \(.+\)/);
  });

  it('refuses a folder without images, and a test folder with a class the training folder lacks', () => {
    const empty = folder('empty', { 'a/readme.txt': (p) => writeFileSync(p, '') });
    expect(taskError(() => imageFolder(tf, { train: empty }))).toMatch(
      /holds no \.png, \.jpg or \.jpeg files/,
    );
    const train = folder('train', { 'a/1.png': (p) => png(p, 2, 2, red) });
    const test = folder('test', {
      'a/1.png': (p) => png(p, 2, 2, red),
      'zebra/2.jpg': (p) => jpg(p, 2, 2, red),
    });
    expect(taskError(() => imageFolder(tf, { train, test }))).toMatch(
      /has the sub-folders zebra, which the training folder does not/,
    );
  });
});
