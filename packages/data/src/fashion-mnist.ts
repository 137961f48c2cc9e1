// Loads Fashion-MNIST as typed arrays from the first source that has it — explicit --data-dir /
// TFJS_DDP_DATA, the user cache, Debian's dataset-fashion-mnist — else downloads it into the cache.
// Every file is checked (gzip, IDX header vs body, SHA-256 unless verify is off) and the four are
// checked against each other (counts, 28×28, labels < 10). Called by workers and the coordinator.

import { DdpError } from '@tfjs-ddp/core';
import { checkSha256 } from './checksum';
import { findFashionMnistFiles, resolveDataSources } from './data-sources';
import type { DataSourceOptions } from './data-sources';
import { downloadIdx } from './download';
import type { FetchLike } from './download';
import {
  DEBIAN_FASHION_MNIST_DIR,
  FASHION_MNIST_BASE_URL,
  FASHION_MNIST_FILES,
  FASHION_MNIST_NAMES,
  FASHION_MNIST_SHA256,
  INSTALL_HINT,
} from './fashion-mnist-files';
import type { FashionMnistFile, Sha256Map } from './fashion-mnist-files';
import { parseIdx, readIdxBytes } from './idx-reader';
import type { IdxTensor } from './idx-reader';

/** One split: `count` images of rows×cols uint8 pixels, row-major, and their labels 0..9. */
export interface FashionMnistSplit {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

/** The loaded dataset. */
export interface FashionMnist {
  train: FashionMnistSplit;
  test: FashionMnistSplit;
  rows: 28;
  cols: 28;
  /** Directory the files were read from. */
  source: string;
  /** Which source that was; 'download' when files were fetched into the cache by this call. */
  origin: 'data-dir' | 'cache' | 'debian' | 'download';
}

/** Number of classes; labels must be below it. */
export const FASHION_MNIST_CLASSES = 10;

/** Options of {@link loadFashionMnist}. */
export interface LoadFashionMnistOptions extends DataSourceOptions {
  /** Check each file's decompressed SHA-256. Default true; turn off for generated datasets. */
  verify?: boolean;
  /** Expected hashes overriding the canonical ones (also used to verify downloads). */
  sha256?: Partial<Sha256Map>;
  /** Download missing files into the cache when no source has them. Default true. */
  download?: boolean;
  /** Download base URL, ending in '/'. Default the upstream S3 site. */
  baseUrl?: string;
  /** Injected fetch (tests serve files from 127.0.0.1). Default the global fetch. */
  fetch?: FetchLike;
  /** Per-file download timeout. Default 5 minutes. */
  downloadTimeoutMs?: number;
  /** pino-style `(fields, msg)` logger, e.g. `log.info.bind(log)`. */
  log?: (fields: Record<string, unknown>, msg: string) => void;
}

/**
 * Finds, verifies and reads Fashion-MNIST.
 * @throws DdpError E_DATA_NOT_FOUND when an explicit directory lacks a file, or nothing is found and
 *   downloading is off
 * @throws DdpError E_DATA_DOWNLOAD when a needed download fails (no network, HTTP error, broken off)
 * @throws DdpError E_DATA_CHECKSUM when a file's SHA-256 differs from the expected one
 * @throws DdpError E_DATA_FORMAT / E_DATA_TRUNCATED when a file is corrupt, or the files disagree
 */
export async function loadFashionMnist(options: LoadFashionMnistOptions = {}): Promise<FashionMnist> {
  const sources = resolveDataSources(options);
  const log = options.log ?? (() => undefined);
  const read = (found: Record<FashionMnistFile, string>, dir: string, origin: FashionMnist['origin']) => {
    log({ dir, origin }, 'reading fashion-mnist');
    return readDataset(found, dir, origin, options);
  };

  if (sources.explicit) {
    const { dir, from } = sources.explicit;
    const { found, missing } = await findFashionMnistFiles(dir);
    if (missing.length > 0) {
      throw new DdpError(
        'E_DATA_NOT_FOUND',
        `${dir} (from ${from}) has no ${missing.map((k) => `${FASHION_MNIST_NAMES[k]}[.gz]`).join(', ')}`,
        `put the 4 Fashion-MNIST IDX files there (apt-get install dataset-fashion-mnist puts them in ${DEBIAN_FASHION_MNIST_DIR}), or point ${from} at a directory that has them`,
      );
    }
    return read(complete(found, dir), dir, 'data-dir');
  }

  const searched = [sources.cacheDir, ...(sources.debianDir === null ? [] : [sources.debianDir])];
  for (const [dir, origin] of [
    [sources.cacheDir, 'cache'],
    [sources.debianDir, 'debian'],
  ] as const) {
    if (dir === null) continue;
    const { found, missing } = await findFashionMnistFiles(dir);
    if (missing.length === 0) return read(complete(found, dir), dir, origin);
  }

  const notFound = `no Fashion-MNIST in ${searched.join(' or ')}`;
  if (options.download === false) throw new DdpError('E_DATA_NOT_FOUND', notFound, INSTALL_HINT);
  const cacheDir = sources.cacheDir;
  const { missing } = await findFashionMnistFiles(cacheDir);
  const expected = { ...FASHION_MNIST_SHA256, ...options.sha256 };
  const baseUrl = options.baseUrl ?? FASHION_MNIST_BASE_URL;
  // One at a time: a failure leaves the already verified files in the cache for the next run.
  for (const key of missing) {
    const url = `${baseUrl}${FASHION_MNIST_NAMES[key]}.gz`;
    log({ url, dir: cacheDir }, 'downloading fashion-mnist file');
    await downloadIdx({
      url,
      dir: cacheDir,
      name: FASHION_MNIST_NAMES[key],
      sha256: expected[key],
      hint: `${notFound}; ${INSTALL_HINT}`,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.downloadTimeoutMs !== undefined ? { timeoutMs: options.downloadTimeoutMs } : {}),
    });
  }
  const after = await findFashionMnistFiles(cacheDir);
  return read(complete(after.found, cacheDir), cacheDir, 'download');
}

async function readDataset(
  files: Record<FashionMnistFile, string>,
  dir: string,
  origin: FashionMnist['origin'],
  options: LoadFashionMnistOptions,
): Promise<FashionMnist> {
  const verify = options.verify ?? true;
  const expected = { ...FASHION_MNIST_SHA256, ...options.sha256 };
  const load = async (key: FashionMnistFile): Promise<IdxTensor> => {
    const path = files[key];
    const hint = hintFor(origin, path);
    const bytes = await readIdxBytes(path, hint);
    if (verify) checkSha256(bytes, expected[key], path, hint);
    return parseIdx(bytes, path, { ndims: key.endsWith('Images') ? 3 : 1, hint });
  };
  // Gunzip runs on the libuv pool, so the four files decompress in parallel; the error reported is
  // the first in file order, not the first to finish, so the same damage always gives the same message.
  const settled = await Promise.allSettled(FASHION_MNIST_FILES.map(load));
  const [trainImages, trainLabels, testImages, testLabels] = settled.map((r) => {
    if (r.status === 'rejected') throw r.reason;
    return r.value;
  });
  const split = (
    images: IdxTensor,
    labels: IdxTensor,
    imagesKey: FashionMnistFile,
    labelsKey: FashionMnistFile,
  ) => checkSplit(images, labels, files[imagesKey], files[labelsKey], hintFor(origin, files[imagesKey]));
  return {
    train: split(trainImages!, trainLabels!, 'trainImages', 'trainLabels'),
    test: split(testImages!, testLabels!, 'testImages', 'testLabels'),
    rows: 28,
    cols: 28,
    source: dir,
    origin,
  };
}

function checkSplit(
  images: IdxTensor,
  labels: IdxTensor,
  imagesPath: string,
  labelsPath: string,
  hint: string,
): FashionMnistSplit {
  const [count = 0, rows, cols] = images.dims;
  if (rows !== 28 || cols !== 28) {
    throw new DdpError('E_DATA_FORMAT', `${imagesPath} has ${rows}×${cols} images, expected 28×28`, hint);
  }
  if (count === 0)
    throw new DdpError('E_DATA_FORMAT', `${imagesPath} has 0 images, expected at least 1`, hint);
  if (labels.dims[0] !== count) {
    throw new DdpError(
      'E_DATA_FORMAT',
      `${labelsPath} has ${labels.dims[0]} labels, expected ${count} (the image count of ${imagesPath})`,
      hint,
    );
  }
  const bad = labels.data.findIndex((l) => l >= FASHION_MNIST_CLASSES);
  if (bad >= 0) {
    throw new DdpError(
      'E_DATA_FORMAT',
      `${labelsPath} has label ${labels.data[bad]} at index ${bad}, expected 0..${FASHION_MNIST_CLASSES - 1}`,
      hint,
    );
  }
  return { images: images.data, labels: labels.data, count };
}

function hintFor(origin: FashionMnist['origin'], path: string): string {
  switch (origin) {
    case 'data-dir':
      return `replace ${path} with an intact copy, or pass --data-dir <dir with valid files>`;
    case 'debian':
      return `reinstall the package (apt-get install --reinstall dataset-fashion-mnist), or pass --data-dir <dir>`;
    default:
      return `delete ${path} and re-run (it is downloaded again), or pass --data-dir <dir>`;
  }
}

/** Narrows a lookup result that must have all four files (it does, unless the dir changed under us). */
function complete(
  found: Partial<Record<FashionMnistFile, string>>,
  dir: string,
): Record<FashionMnistFile, string> {
  const missing = FASHION_MNIST_FILES.filter((k) => found[k] === undefined);
  if (missing.length > 0) {
    throw new DdpError(
      'E_DATA_NOT_FOUND',
      `${dir} lost ${missing.map((k) => FASHION_MNIST_NAMES[k]).join(', ')}`,
      INSTALL_HINT,
    );
  }
  return found as Record<FashionMnistFile, string>;
}
