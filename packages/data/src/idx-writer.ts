// IDX writer (uint8 only), gzip or raw. Used by tests, tools/ fixture scripts and the synthetic
// dataset writer to create small datasets in exactly the format the reader accepts.

import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { DdpError } from '@tfjs-ddp/core';
import { IDX_TYPE_UINT8 } from './idx-reader';

const gzipAsync = promisify(gzip);

/**
 * Encodes a uint8 tensor as IDX bytes (header + body).
 * @throws DdpError E_DATA_FORMAT when dims are not 1..255 non-negative uint32 values or their product
 *   differs from data.length
 */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  if (
    dims.length < 1 ||
    dims.length > 255 ||
    dims.some((d) => !Number.isInteger(d) || d < 0 || d > 0xffff_ffff)
  ) {
    throw new DdpError('E_DATA_FORMAT', `cannot encode IDX dims [${dims.join(', ')}]`);
  }
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== data.length) {
    throw new DdpError(
      'E_DATA_FORMAT',
      `IDX dims ${dims.join('×')} = ${size} elements, but data has ${data.length}`,
    );
  }
  const header = 4 + 4 * dims.length;
  const out = new Uint8Array(header + size);
  const view = new DataView(out.buffer);
  out[2] = IDX_TYPE_UINT8;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(data, header);
  return out;
}

/** Options of {@link writeIdx}. */
export interface WriteIdxOptions {
  /** gzip the file (name it `*.gz` yourself). Default false. */
  gzip?: boolean;
}

/**
 * Writes a uint8 tensor as an IDX file, creating the parent directory.
 * @returns the IDX bytes before compression (hash them to build an expected-SHA-256 map)
 * @throws DdpError E_DATA_FORMAT as {@link encodeIdx}; fs errors pass through
 */
export async function writeIdx(
  path: string,
  dims: readonly number[],
  data: Uint8Array,
  options: WriteIdxOptions = {},
): Promise<Uint8Array> {
  const bytes = encodeIdx(dims, data);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, options.gzip ? await gzipAsync(bytes) : bytes);
  return bytes;
}
