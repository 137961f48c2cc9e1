// IDX writer (uint8 by default, any element type of the format on request), gzip or raw. Used by
// tests, tools/ fixture scripts and the synthetic dataset writer to create small datasets in exactly
// the format the reader accepts.

import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { DdpError } from '@tfjs-ddp/core';
import { IDX_TYPE_UINT8, IDX_TYPES } from './idx-reader';

const gzipAsync = promisify(gzip);

/**
 * Encodes a tensor as IDX bytes (header + body, elements big-endian).
 * @param type the element type byte (default 0x08, uint8); values are stored as that type's typed
 *   array would store them (wrapped or rounded)
 * @throws DdpError E_DATA_FORMAT when dims are not 1..255 non-negative uint32 values, their product
 *   differs from data.length, or `type` is not one of the format's
 */
export function encodeIdx(
  dims: readonly number[],
  data: ArrayLike<number>,
  type: number = IDX_TYPE_UINT8,
): Uint8Array {
  const element = IDX_TYPES[type];
  if (element === undefined) {
    throw new DdpError('E_DATA_FORMAT', `cannot encode IDX element type 0x${type.toString(16)}`);
  }
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
  const out = new Uint8Array(header + size * element.bytes);
  const view = new DataView(out.buffer);
  out[2] = type;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  if (type === IDX_TYPE_UINT8) {
    out.set(data, header);
    return out;
  }
  const set: (at: number, v: number) => void = {
    0x09: (at: number, v: number) => view.setInt8(at, v),
    0x0b: (at: number, v: number) => view.setInt16(at, v),
    0x0c: (at: number, v: number) => view.setInt32(at, v),
    0x0d: (at: number, v: number) => view.setFloat32(at, v),
    0x0e: (at: number, v: number) => view.setFloat64(at, v),
  }[type]!;
  for (let i = 0; i < size; i++) set(header + i * element.bytes, data[i]!);
  return out;
}

/** Options of {@link writeIdx}. */
export interface WriteIdxOptions {
  /** gzip the file (name it `*.gz` yourself). Default false. */
  gzip?: boolean;
  /** The element type byte (default 0x08, uint8). */
  type?: number;
}

/**
 * Writes a tensor as an IDX file (uint8 unless `options.type` says otherwise), creating the parent
 * directory.
 * @returns the IDX bytes before compression (hash them to build an expected-SHA-256 map)
 * @throws DdpError E_DATA_FORMAT as {@link encodeIdx}; fs errors pass through
 */
export async function writeIdx(
  path: string,
  dims: readonly number[],
  data: ArrayLike<number>,
  options: WriteIdxOptions = {},
): Promise<Uint8Array> {
  const bytes = encodeIdx(dims, data, options.type);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, options.gzip ? await gzipAsync(bytes) : bytes);
  return bytes;
}
