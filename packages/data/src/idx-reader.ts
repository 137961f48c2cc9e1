// IDX reader (the MNIST file format), gzip or raw. Every way a file can be wrong — missing, bad gzip,
// truncated, wrong magic, a body shorter or longer than its header says — becomes a DdpError that names
// the file, what was observed, what was expected, and what to do; never a zlib stack trace, never a
// silently short dataset. Called by the Fashion-MNIST loader, the downloader and the worker's
// idxData task helper (which reads the other element types too, and reads synchronously).
//
// Format (big-endian): bytes 0-1 are zero, byte 2 is the element type (0x08 ubyte, 0x09 byte, 0x0B
// short, 0x0C int, 0x0D float, 0x0E double), byte 3 is the number of dimensions n; then n uint32
// sizes; then the elements, row-major, big-endian.

import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip, gunzipSync } from 'node:zlib';
import { DdpError } from '@tfjs-ddp/core';

const gunzipAsync = promisify(gunzip);

/** Magic number of an IDX file of uint8 images (3 dims: count, rows, cols). */
export const IDX_MAGIC_IMAGES = 0x00000803;
/** Magic number of an IDX file of uint8 labels (1 dim: count). */
export const IDX_MAGIC_LABELS = 0x00000801;
/** IDX element type byte for unsigned bytes. */
export const IDX_TYPE_UINT8 = 0x08;

/** Every IDX element type byte: its name in the format's description and its size in bytes. */
export const IDX_TYPES: Readonly<Record<number, { name: string; bytes: number }>> = {
  0x08: { name: 'ubyte', bytes: 1 },
  0x09: { name: 'byte', bytes: 1 },
  0x0b: { name: 'short', bytes: 2 },
  0x0c: { name: 'int', bytes: 4 },
  0x0d: { name: 'float', bytes: 4 },
  0x0e: { name: 'double', bytes: 8 },
};

/** The elements of an IDX file in native byte order, one typed array per element type. */
export type IdxValues = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A decoded IDX tensor: its shape, its element type and its body (a view into the decompressed bytes). */
export interface IdxTensor {
  dims: number[];
  /** The element type byte (see {@link IDX_TYPES}). */
  type: number;
  /** The body: for 0x08 the elements themselves; for the other types big-endian, see {@link idxValues}. */
  data: Uint8Array;
}

/** What the caller expects of the file, and what to tell the user when it is wrong. */
export interface IdxReadOptions {
  /** Required number of dimensions (3 for images, 1 for labels). */
  ndims?: number;
  /** Element types accepted (default [0x08]: uint8 only, which is all Fashion-MNIST has). */
  types?: readonly number[];
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
    throw notFound(e, path, hint);
  }
  return isGzip(raw) ? gunzipOrThrow(raw, path, hint) : raw;
}

/**
 * {@link readIdxBytes} without leaving the thread (for callers that must return synchronously).
 * @throws DdpError E_DATA_NOT_FOUND, E_DATA_TRUNCATED or E_DATA_FORMAT as {@link readIdxBytes}
 */
export function readIdxBytesSync(path: string, hint = defaultHint(path)): Uint8Array {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (e) {
    throw notFound(e, path, hint);
  }
  if (!isGzip(raw)) return raw;
  try {
    return gunzipSync(raw);
  } catch (e) {
    throw gunzipFailure(e, raw, path, hint);
  }
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
    throw gunzipFailure(e, gz, path, hint);
  }
}

function notFound(e: unknown, path: string, hint: string): DdpError {
  const code = (e as NodeJS.ErrnoException).code ?? 'error';
  return new DdpError('E_DATA_NOT_FOUND', `cannot read ${path} (${code})`, hint, { cause: e });
}

function gunzipFailure(e: unknown, gz: Uint8Array, path: string, hint: string): DdpError {
  const zerr = e as NodeJS.ErrnoException;
  if (zerr.code === 'Z_BUF_ERROR') {
    return new DdpError(
      'E_DATA_TRUNCATED',
      `${path} is a truncated gzip file (${gz.length} compressed bytes, the stream ends early)`,
      hint,
      { cause: e },
    );
  }
  return new DdpError('E_DATA_FORMAT', `${path} is not a valid gzip file (zlib: ${zerr.message})`, hint, {
    cause: e,
  });
}

/**
 * Decodes IDX bytes and checks that the body length equals the product of the header sizes exactly.
 * @param bytes decompressed IDX bytes
 * @param path where they came from (for messages)
 * @throws DdpError E_DATA_FORMAT on a bad magic, a type not in `options.types`, the wrong number of
 *   dimensions, or trailing bytes after the body
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
  const types = options.types ?? [IDX_TYPE_UINT8];
  const one = types.length === 1 ? types[0]! : null;
  const expected =
    options.ndims === undefined || one === null ? '' : `, expected ${hex(one * 256 + options.ndims)}`;
  if (bytes[0] !== 0 || bytes[1] !== 0 || ndims === 0) {
    const form = one === null ? 'TT' : byteHex(one).slice(2);
    throw fail(
      'E_DATA_FORMAT',
      `has magic ${hex(magic)}, not an IDX file${expected || ` (0x0000${form}nn)`}`,
    );
  }
  const element = IDX_TYPES[type];
  if (element === undefined || !types.includes(type)) {
    const wanted = types.map((t) => `${byteHex(t)} (${t === IDX_TYPE_UINT8 ? 'uint8' : IDX_TYPES[t]?.name})`);
    throw fail('E_DATA_FORMAT', `has IDX element type ${byteHex(type)}, expected ${wanted.join(', ')}`);
  }
  if (options.ndims !== undefined && ndims !== options.ndims) {
    const want = one === null ? '' : expected;
    throw fail('E_DATA_FORMAT', `has magic ${hex(magic)} (${ndims} dims)${want} (${options.ndims} dims)`);
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
  const length = size * element.bytes;
  if (!Number.isSafeInteger(length))
    throw fail('E_DATA_FORMAT', `declares dims ${dims.join('×')}, too large`);
  const body = bytes.length - headerBytes;
  const shape =
    element.bytes === 1
      ? `${dims.join('×')} = ${length} bytes`
      : `${dims.join('×')} = ${size} ${element.name}s = ${length} bytes`;
  if (body < length)
    throw fail('E_DATA_TRUNCATED', `has a ${body}-byte body, expected ${shape} (file is truncated)`);
  if (body > length)
    throw fail('E_DATA_FORMAT', `has a ${body}-byte body, expected exactly ${shape} (trailing bytes)`);
  return { dims, type, data: new Uint8Array(bytes.buffer, bytes.byteOffset + headerBytes, length) };
}

/**
 * The elements of `t` as a typed array of its element type, in native byte order: a view for the
 * one-byte types, a decoded copy for the others.
 */
export function idxValues(t: IdxTensor): IdxValues {
  const { data } = t;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const decode = <A extends Int16Array | Int32Array | Float32Array | Float64Array>(
    out: A,
    get: (at: number) => number,
  ): A => {
    for (let i = 0; i < out.length; i++) out[i] = get(i * out.BYTES_PER_ELEMENT);
    return out;
  };
  switch (t.type) {
    case 0x08:
      return data;
    case 0x09:
      return new Int8Array(data.buffer, data.byteOffset, data.length);
    case 0x0b:
      return decode(new Int16Array(data.length / 2), (at) => view.getInt16(at));
    case 0x0c:
      return decode(new Int32Array(data.length / 4), (at) => view.getInt32(at));
    case 0x0d:
      return decode(new Float32Array(data.length / 4), (at) => view.getFloat32(at));
    case 0x0e:
      return decode(new Float64Array(data.length / 8), (at) => view.getFloat64(at));
    default:
      throw new DdpError('E_DATA_FORMAT', `IDX element type ${byteHex(t.type)} is not one of the format's`);
  }
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

/** {@link readIdx}, synchronously. @throws DdpError as {@link readIdx} */
export function readIdxSync(path: string, options: IdxReadOptions = {}): IdxTensor {
  return parseIdx(readIdxBytesSync(path, options.hint ?? defaultHint(path)), path, options);
}

function defaultHint(path: string): string {
  return `delete ${path} and re-run, or pass --data-dir <dir with valid IDX files>`;
}

function byteHex(n: number): string {
  return `0x${n.toString(16).padStart(2, '0')}`;
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}
