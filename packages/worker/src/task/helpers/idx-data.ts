// IDX files (the MNIST / Fashion-MNIST format, raw or .gz, any element type of the format) as a
// task's data: an images file and a labels file per split, read once by @tfjs-ddp/data's IDX reader
// and held as the file's own typed array; a batch copies its samples into float32 tensors made with
// the task's tf. Images of 3 dims (count, rows, cols) get a channel axis: [n, rows, cols, 1].
import type * as tfc from '@tensorflow/tfjs-core';
import { DdpError, isDdpError } from '@tfjs-ddp/core';
import {
  IDX_TYPE_UINT8,
  IDX_TYPES,
  idxValues,
  readIdxSync,
  type IdxTensor,
  type IdxValues,
} from '@tfjs-ddp/data';
import type { DataSplit } from '../data-split';

export interface IdxDataOptions {
  /** The training images (or any samples): an IDX file of count × sample dims, raw or .gz. */
  trainImages: string;
  /** The training labels: a 1-dim IDX file of class ids (whole numbers ≥ 0), one per image. */
  trainLabels: string;
  /** The test images (give both test files or neither). */
  testImages?: string;
  testLabels?: string;
  /**
   * true: values ÷ 255, into [0, 1] (the default for ubyte files); false: the file's values as they
   * are (the default, and the only choice, for the other element types).
   */
  scale?: boolean;
}

export interface IdxData {
  train: DataSplit;
  test: DataSplit | null;
  /** The class ids as text, '0' … the largest label of either split (IDX files carry no names). */
  classes: string[];
  /** The shape of one sample: [rows, cols, 1] for a 3-dim images file, else the file's dims after the count. */
  sampleShape: number[];
}

const ALL_TYPES = Object.keys(IDX_TYPES).map(Number);
const HINT = 'every host needs the file at this path; fetch a damaged file again';

interface Split {
  images: string;
  labels: string;
}

/**
 * Reads the IDX files and returns their splits.
 * @throws DdpError E_TASK naming the file when one is missing, malformed (not IDX, truncated, bad
 *   gzip), of the wrong rank, or disagrees with its partner (label count, sample shape), or a label is
 *   not a whole number ≥ 0, or `scale` is asked of a type other than ubyte
 */
export function idxData(tf: typeof tfc, o: IdxDataOptions): IdxData {
  for (const key of ['trainImages', 'trainLabels'] as const)
    if (typeof o[key] !== 'string')
      throw new DdpError(
        'E_TASK',
        `idxData: ${key} is ${String(o[key])}`,
        'pass the paths of the training images and labels files (raw or .gz)',
      );
  if ((o.testImages === undefined) !== (o.testLabels === undefined))
    throw new DdpError(
      'E_TASK',
      `idxData: testImages is ${o.testImages ?? 'not given'} but testLabels ${o.testLabels ?? 'not given'}`,
      'give both test files or neither',
    );
  const train = open({ images: o.trainImages, labels: o.trainLabels }, o.scale);
  const test =
    o.testImages !== undefined && o.testLabels !== undefined
      ? open({ images: o.testImages, labels: o.testLabels }, o.scale)
      : null;
  if (test && (test.sampleShape.join() !== train.sampleShape.join() || test.type !== train.type))
    throw new DdpError(
      'E_TASK',
      `idxData: ${test.path} holds ${name(test.type)}s of shape [${test.sampleShape}] but ${train.path} ${name(train.type)}s of shape [${train.sampleShape}]`,
      'give test images of the training images’ shape and element type',
    );
  const top = Math.max(train.maxLabel, test?.maxLabel ?? -1);
  return {
    train: split(tf, train),
    test: test ? split(tf, test) : null,
    classes: Array.from({ length: top + 1 }, (_, i) => String(i)),
    sampleShape: train.sampleShape,
  };
}

interface Opened {
  values: IdxValues;
  labels: Int32Array;
  sampleShape: number[];
  type: number;
  scale: boolean;
  maxLabel: number;
  path: string;
}

function open(s: Split, scale: boolean | undefined): Opened {
  const images = read(s.images);
  if (images.dims.length < 2)
    throw new DdpError(
      'E_TASK',
      `idxData: ${s.images} has ${images.dims.length} dim [${images.dims}]; expected a count and a sample shape, e.g. count × rows × cols`,
      'pass the images file here and the labels file as the labels',
    );
  const labels = read(s.labels);
  const [count] = images.dims as [number];
  if (labels.dims.length !== 1)
    throw new DdpError(
      'E_TASK',
      `idxData: ${s.labels} has dims [${labels.dims}]; a labels file has 1 (one class id per sample)`,
      'check that the images and labels files are not swapped',
    );
  if (labels.dims[0] !== count)
    throw new DdpError(
      'E_TASK',
      `idxData: ${s.labels} holds ${labels.dims[0]} labels but ${s.images} ${count} images`,
      'pair each images file with its own labels file',
    );
  const ubyte = images.type === IDX_TYPE_UINT8;
  if (scale === true && !ubyte)
    throw new DdpError(
      'E_TASK',
      `idxData: scale asks ÷ 255 of ${s.images}, whose elements are ${name(images.type)}s, not ubytes`,
      'leave scale out (the values as they are) and normalize in your model',
    );
  const raw = idxValues(labels);
  const ids = new Int32Array(count);
  let maxLabel = -1;
  for (let i = 0; i < count; i++) {
    const v = raw[i]!;
    if (!Number.isInteger(v) || v < 0 || v > 0x7fff_ffff)
      throw new DdpError(
        'E_TASK',
        `idxData: ${s.labels} label ${i} is ${v}, not a class id (a whole number ≥ 0)`,
        'give class ids 0 … classes − 1 as labels',
      );
    ids[i] = v;
    maxLabel = Math.max(maxLabel, v);
  }
  const dims = images.dims.slice(1);
  return {
    values: idxValues(images),
    labels: ids,
    sampleShape: dims.length === 2 ? [...dims, 1] : dims,
    type: images.type,
    scale: scale ?? ubyte,
    maxLabel,
    path: s.images,
  };
}

const name = (type: number): string => IDX_TYPES[type]?.name ?? 'unknown';

function read(path: string): IdxTensor {
  try {
    return readIdxSync(path, { types: ALL_TYPES, hint: HINT });
  } catch (e) {
    if (!isDdpError(e)) throw e;
    // The reader's E_DATA_* codes are for the built-in dataset; a task's file is the task's problem.
    throw new DdpError('E_TASK', `idxData: ${e.message.slice(e.code.length + 2)}`, undefined, { cause: e });
  }
}

function split(tf: typeof tfc, d: Opened): DataSplit {
  const size = d.labels.length;
  const per = size === 0 ? 0 : d.values.length / size;
  return {
    size,
    batch(indices) {
      const n = indices.length;
      const xs = new Float32Array(n * per);
      const ys = new Int32Array(n);
      for (let k = 0; k < n; k++) {
        const i = indices[k]!;
        if (i >= size)
          throw new DdpError(
            'E_TASK',
            `idxData: sample ${i} asked of ${d.path}, which holds ${size}`,
            'this is a bug in tfjs-ddp: report it',
          );
        const row = d.values.subarray(i * per, (i + 1) * per);
        if (d.scale) for (let j = 0; j < per; j++) xs[k * per + j] = row[j]! / 255;
        else xs.set(row, k * per);
        ys[k] = d.labels[i]!;
      }
      return { xs: tf.tensor(xs, [n, ...d.sampleShape], 'float32'), ys: tf.tensor1d(ys, 'int32') };
    },
  };
}
