// IDX reader (the MNIST file format), gzip or raw. Every way a file can be wrong — missing, bad gzip,
// truncated, wrong magic, a body shorter or longer than its header says — becomes a DdpError that names
// the file, what was observed, what was expected, and what to do; never a zlib stack trace, never a
// silently short dataset. Called by the Fashion-MNIST loader and the downloader.
//
// Format (big-endian): bytes 0-1 are zero, byte 2 is the element type (0x08 = uint8, the only one
// supported), byte 3 is the number of dimensions n; then n uint32 sizes; then the elements, row-major.

import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { DdpError } from '@tfjs-ddp/core';

const gunzipAsync = promisify(gunzip);

/** Magic number of an IDX file of uint8 images (3 dims: count, rows, cols). */
export const IDX_MAGIC_IMAGES = 0x00000803;
/** Magic number of an IDX file of uint8 labels (1 dim: count). */
export const IDX_MAGIC_LABELS = 0x00000801;
/** IDX element type byte for unsigned bytes. */
export const IDX_TYPE_UINT8 = 0x08;

/** A decoded IDX tensor: its shape and its elements (a view into the decompressed bytes). */
export interface IdxTensor {
  dims: number[];
  data: Uint8Array;
}

/** What the caller expects of the file, and what to tell the user when it is wrong. */
export interface IdxReadOptions {
  /** Required number of dimensions (3 for images, 1 for labels). */
  ndims?: number;
  /** Next step appended to every error; default: delete the file and re-run, or pass --data-dir. */
  hint?: string;
}

/** True when `bytes` start with the gzip magic 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Reads a file and returns its IDX bytes, gunzipped when the content is gzip (detected by magic, not
 * by name, so a `.gz` that a proxy already decompressed still reads).
 * @throws DdpError E_DATA_NOT_FOUND when the file cannot be read
 * @throws DdpError E_DATA_TRUNCATED when the gzip stream ends early
 * @throws DdpError E_DATA_FORMAT when the gzip stream is corrupt
 */
export async function readIdxBytes(path: string, hint = defaultHint(path)): Promise<Uint8Array> {
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new DdpError('E_DATA_NOT_FOUND', `cannot read ${path} (${code})`, hint, { cause: e });
  }
  return isGzip(raw) ? gunzipOrThrow(raw, path, hint) : raw;
}

/**
 * Decompresses gzip bytes that came from `path` (a file or a URL).
 * @throws DdpError E_DATA_TRUNCATED when the stream ends early, E_DATA_FORMAT when it is corrupt
 */
export async function gunzipOrThrow(
  gz: Uint8Array,
  path: string,
  hint = defaultHint(path),
): Promise<Uint8Array> {
  try {
    return await gunzipAsync(gz);
  } catch (e) {
    const zerr = e as NodeJS.ErrnoException;
    if (zerr.code === 'Z_BUF_ERROR') {
      throw new DdpError(
        'E_DATA_TRUNCATED',
        `${path} is a truncated gzip file (${gz.length} compressed bytes, the stream ends early)`,
        hint,
        { cause: e },
      );
    }
    throw new DdpError('E_DATA_FORMAT', `${path} is not a valid gzip file (zlib: ${zerr.message})`, hint, {
      cause: e,
    });
  }
}

/**
 * Decodes IDX bytes and checks that the body length equals the product of the header sizes exactly.
 * @param bytes decompressed IDX bytes
 * @param path where they came from (for messages)
 * @throws DdpError E_DATA_FORMAT on a bad magic, an unsupported type, the wrong number of dimensions,
 *   or trailing bytes after the body
 * @throws DdpError E_DATA_TRUNCATED when the header or body is shorter than the header says
 */
export function parseIdx(bytes: Uint8Array, path: string, options: IdxReadOptions = {}): IdxTensor {
  const hint = options.hint ?? defaultHint(path);
  const fail = (code: 'E_DATA_FORMAT' | 'E_DATA_TRUNCATED', what: string): DdpError =>
    new DdpError(code, `${path} ${what}`, hint);
  if (bytes.length < 4)
    throw fail('E_DATA_TRUNCATED', `has ${bytes.length} bytes, expected at least a 4-byte IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  const type = bytes[2]!;
  const ndims = bytes[3]!;
  const expected =
    options.ndims === undefined ? '' : `, expected ${hex(IDX_TYPE_UINT8 * 256 + options.ndims)}`;
  if (bytes[0] !== 0 || bytes[1] !== 0 || ndims === 0) {
    throw fail('E_DATA_FORMAT', `has magic ${hex(magic)}, not an IDX file${expected || ' (0x000008nn)'}`);
  }
  if (type !== IDX_TYPE_UINT8) {
    throw fail(
      'E_DATA_FORMAT',
      `has IDX element type 0x${type.toString(16).padStart(2, '0')}, expected 0x08 (uint8)`,
    );
  }
  if (options.ndims !== undefined && ndims !== options.ndims) {
    throw fail('E_DATA_FORMAT', `has magic ${hex(magic)} (${ndims} dims)${expected} (${options.ndims} dims)`);
  }
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw fail(
      'E_DATA_TRUNCATED',
      `has ${bytes.length} bytes, expected a ${headerBytes}-byte header for ${ndims} dims`,
    );
  }
  const dims: number[] = [];
  let size = 1;
  for (let i = 0; i < ndims; i++) {
    const d = view.getUint32(4 + 4 * i);
    dims.push(d);
    size *= d;
  }
  if (!Number.isSafeInteger(size)) throw fail('E_DATA_FORMAT', `declares dims ${dims.join('×')}, too large`);
  const body = bytes.length - headerBytes;
  const shape = `${dims.join('×')} = ${size} bytes`;
  if (body < size)
    throw fail('E_DATA_TRUNCATED', `has a ${body}-byte body, expected ${shape} (file is truncated)`);
  if (body > size)
    throw fail('E_DATA_FORMAT', `has a ${body}-byte body, expected exactly ${shape} (trailing bytes)`);
  return { dims, data: new Uint8Array(bytes.buffer, bytes.byteOffset + headerBytes, size) };
}

/**
 * Reads and decodes an IDX file, `.gz` or raw.
 * @throws DdpError E_DATA_NOT_FOUND, E_DATA_TRUNCATED or E_DATA_FORMAT (see {@link readIdxBytes} and
 *   {@link parseIdx})
 */
export async function readIdx(path: string, options: IdxReadOptions = {}): Promise<IdxTensor> {
  const bytes = await readIdxBytes(path, options.hint ?? defaultHint(path));
  return parseIdx(bytes, path, options);
}

function defaultHint(path: string): string {
  return `delete ${path} and re-run, or pass --data-dir <dir with valid IDX files>`;
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}
