// A folder of PNG and JPEG images with one sub-folder per class (torchvision's ImageFolder
// convention) as a task's data: class ids in the sorted order of the sub-folder names, images decoded when a batch
// asks for them (random access by index, nothing held but the file list), scaled to [0, 1] and
// resized to `size` on the compute backend when they are not that size already.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type * as tfc from '@tensorflow/tfjs-core';
import { DdpError } from '@tfjs-ddp/core';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { DataSplit } from '../data-split';

export interface ImageFolderOptions {
  /** The training folder: root/<class>/<image>.png (or .jpg, .jpeg). */
  train: string;
  /** The test folder, with the same class sub-folders (optional). */
  test?: string;
  /** [height, width] every image is resized to (default: the first image's). */
  size?: [number, number];
  /** 1 (grayscale, the mean of R, G, B) or 3 (RGB, the default); alpha is dropped. */
  channels?: 1 | 3;
}

export interface ImageFolderData {
  train: DataSplit;
  test: DataSplit | null;
  /** The class names (sub-folders), index = class id. */
  classes: string[];
  /** [height, width, channels] of every sample. */
  sampleShape: [number, number, number];
}

interface Listing {
  files: string[];
  labels: Int32Array;
}

function list(root: string, classes: string[] | null): { classes: string[]; listing: Listing } {
  let names: string[];
  try {
    names = readdirSync(root)
      .filter((n) => statSync(join(root, n)).isDirectory())
      .sort();
  } catch (e) {
    throw new DdpError(
      'E_TASK',
      `imageFolder: cannot read ${root} (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
      'pass a folder with one sub-folder of PNG or JPEG images per class',
    );
  }
  const cls = classes ?? names;
  if (cls.length === 0)
    throw new DdpError(
      'E_TASK',
      `imageFolder: ${root} has no class sub-folders`,
      'put the images of each class in a sub-folder named after it',
    );
  const unknown = names.filter((n) => !cls.includes(n));
  if (unknown.length > 0)
    throw new DdpError(
      'E_TASK',
      `imageFolder: ${root} has the sub-folders ${unknown.join(', ')}, which the training folder does not`,
      "give the test folder the training folder's classes",
    );
  const files: string[] = [];
  const labels: number[] = [];
  cls.forEach((c, id) => {
    const dir = join(root, c);
    let entries: string[] = [];
    try {
      entries = readdirSync(dir)
        .filter((f) => IMAGE_FILE.test(f))
        .sort();
    } catch {
      entries = []; // a class the test folder lacks
    }
    for (const f of entries) {
      files.push(join(dir, f));
      labels.push(id);
    }
  });
  return { classes: cls, listing: { files, labels: Int32Array.from(labels) } };
}

const IMAGE_FILE = /\.(png|jpe?g)$/i;
const isPng = (b: Buffer) => b.length >= 4 && b.readUInt32BE(0) === 0x89504e47;
const isJpeg = (b: Buffer) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
// jpeg-js' own guards against a hostile header; a class-folder image is far below both.
const JPEG_LIMITS = { maxResolutionInMP: 100, maxMemoryUsageInMB: 1024 };

/** RGBA pixels of a PNG or JPEG file, told apart by their first bytes (not by the file's name). */
function readRgba(path: string): { data: Uint8Array; height: number; width: number } {
  const bytes = readFileSync(path);
  const kind = isPng(bytes) ? 'PNG' : isJpeg(bytes) ? 'JPEG' : null;
  if (kind === null)
    throw new DdpError(
      'E_TASK',
      `imageFolder: ${path} is neither a PNG nor a JPEG (it starts with 0x${bytes.subarray(0, 4).toString('hex') || 'nothing'})`,
      'remove the file or replace it with a PNG or JPEG image',
    );
  try {
    return kind === 'PNG'
      ? PNG.sync.read(bytes)
      : jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, ...JPEG_LIMITS });
  } catch (e) {
    throw new DdpError(
      'E_TASK',
      `imageFolder: ${path} is not a readable ${kind} (${e instanceof Error ? e.message : String(e)})`,
      `remove the file or replace it with a valid ${kind}`,
    );
  }
}

function decode(path: string, channels: 1 | 3): { data: Float32Array; height: number; width: number } {
  const img = readRgba(path);
  const n = img.width * img.height;
  const data = new Float32Array(n * channels);
  for (let p = 0; p < n; p++) {
    const [r, g, b] = [img.data[4 * p]!, img.data[4 * p + 1]!, img.data[4 * p + 2]!];
    if (channels === 1) data[p] = (r + g + b) / (3 * 255);
    else data.set([r / 255, g / 255, b / 255], 3 * p);
  }
  return { data, height: img.height, width: img.width };
}

/** @throws DdpError E_TASK naming the folder or file that is wrong. */
export function imageFolder(tf: typeof tfc, o: ImageFolderOptions): ImageFolderData {
  const channels = o.channels ?? 3;
  const train = list(o.train, null);
  const test = o.test === undefined ? null : list(o.test, train.classes);
  if (train.listing.files.length === 0)
    throw new DdpError(
      'E_TASK',
      `imageFolder: ${o.train} holds no .png, .jpg or .jpeg files in its class sub-folders`,
      'put PNG or JPEG images in the class sub-folders',
    );
  const first = decode(train.listing.files[0]!, channels);
  const [height, width] = o.size ?? [first.height, first.width];
  const split = ({ files, labels }: Listing): DataSplit => ({
    size: files.length,
    batch(indices) {
      return tf.tidy(() => {
        const images = Array.from(indices, (i) => {
          const img = decode(files[i]!, channels);
          const t = tf.tensor3d(img.data, [img.height, img.width, channels]);
          return img.height === height && img.width === width
            ? t
            : tf.image.resizeBilinear(t, [height, width], false, true);
        });
        return {
          xs: tf.stack(images),
          ys: tf.tensor1d(
            Array.from(indices, (i) => labels[i]!),
            'int32',
          ),
        };
      });
    },
  });
  return {
    train: split(train.listing),
    test: test === null ? null : split(test.listing),
    classes: train.classes,
    sampleShape: [height, width, channels],
  };
}
