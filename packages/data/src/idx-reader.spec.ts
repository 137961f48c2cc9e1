import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { isDdpError } from '@tfjs-ddp/core';
import type { DdpErrorCode } from '@tfjs-ddp/core';
import { IDX_TYPES, idxValues, readIdx, readIdxSync } from './idx-reader';
import { encodeIdx, writeIdx } from './idx-writer';
import { caught, useTempDirs } from './test-tmp';

const tempDir = useTempDirs();

const images = Uint8Array.from({ length: 3 * 4 * 5 }, (_, i) => (i * 7) & 0xff);

async function expectError(path: string, code: DdpErrorCode, pattern: RegExp, ndims?: number): Promise<void> {
  const options = ndims === undefined ? {} : { ndims };
  const e = await caught(() => readIdx(path, options));
  // The synchronous reader (the worker's idxData helper) says the same.
  expect((await caught(() => readIdxSync(path, options))).message).toBe(e.message);
  expect(isDdpError(e, code), e.message).toBe(true);
  expect(e.message).toContain(path);
  expect(e.message).toMatch(pattern);
  expect(e.message).toMatch(/delete .* or pass --data-dir/);
  expect(e.message).not.toMatch(/\n\s+at /); // no stack trace in the message
}

describe('writeIdx and readIdx', () => {
  it('round-trip a raw 3-dim file', async () => {
    const path = join(await tempDir(), 'x-idx3-ubyte');
    await writeIdx(path, [3, 4, 5], images);
    const t = await readIdx(path, { ndims: 3 });
    expect(t.dims).toEqual([3, 4, 5]);
    expect(t.data).toEqual(images);
    expect((await readFile(path)).subarray(0, 4)).toEqual(Buffer.from([0, 0, 8, 3]));
  });

  it('round-trip a gzipped 1-dim file', async () => {
    const path = join(await tempDir(), 'y-idx1-ubyte.gz');
    await writeIdx(path, [6], Uint8Array.of(0, 1, 2, 9, 8, 7), { gzip: true });
    const raw = await readFile(path);
    expect([raw[0], raw[1]]).toEqual([0x1f, 0x8b]);
    const t = await readIdx(path, { ndims: 1 });
    expect(t.dims).toEqual([6]);
    expect(Array.from(t.data)).toEqual([0, 1, 2, 9, 8, 7]);
  });

  it.each([
    ['byte', 0x09, [-128, -1, 0, 1, 127, 5]],
    ['short', 0x0b, [-32768, -2, 0, 300, 32767, 7]],
    ['int', 0x0c, [-2147483648, -3, 0, 70000, 2147483647, 9]],
    ['float', 0x0d, [-1.5, 0, 0.25, 3e38, -7, 1e-3]],
    ['double', 0x0e, [-1.5, 0, 0.1, 1e300, -7, Math.PI]],
  ])('round-trip %s elements, big-endian, raw and gzipped', async (_, type, values) => {
    const dir = await tempDir();
    const expected = Float64Array.from(values);
    if (type === 0x0d) expected.set(Float32Array.from(values));
    for (const gzip of [false, true]) {
      const path = join(dir, `v-${type}${gzip ? '.gz' : ''}`);
      const bytes = await writeIdx(path, [2, 3], values, { type, gzip });
      expect(Array.from(bytes.subarray(0, 4))).toEqual([0, 0, type, 2]);
      expect(bytes.length).toBe(12 + 6 * IDX_TYPES[type]!.bytes);
      for (const t of [await readIdx(path, { types: [type] }), readIdxSync(path, { types: [type] })]) {
        expect([t.dims, t.type]).toEqual([[2, 3], type]);
        expect(Array.from(idxValues(t))).toEqual(Array.from(expected));
      }
    }
  });

  it('refuse to encode data whose length is not the product of the dims', () => {
    expect(() => encodeIdx([2, 3], new Uint8Array(5))).toThrow(
      /E_DATA_FORMAT.*2×3 = 6 elements, but data has 5/,
    );
  });
});

describe('readIdx on damaged files', () => {
  const good = encodeIdx([3, 4, 5], images);

  async function file(name: string, bytes: Uint8Array): Promise<string> {
    const path = join(await tempDir(), name);
    await writeFile(path, bytes);
    return path;
  }

  it('reports a missing file as E_DATA_NOT_FOUND', async () => {
    await expectError(join(await tempDir(), 'nope-idx3-ubyte'), 'E_DATA_NOT_FOUND', /ENOENT/);
  });

  it('reports a body shorter than the header says as E_DATA_TRUNCATED', async () => {
    const path = await file('short', good.subarray(0, good.length - 1));
    await expectError(path, 'E_DATA_TRUNCATED', /59-byte body, expected 3×4×5 = 60 bytes/);
  });

  it('reports trailing bytes after the body as E_DATA_FORMAT', async () => {
    const path = await file('long', Uint8Array.from([...good, 0]));
    await expectError(path, 'E_DATA_FORMAT', /61-byte body, expected exactly 3×4×5 = 60 bytes/);
  });

  it('reports a bad magic number as E_DATA_FORMAT', async () => {
    const path = await file('magic', Uint8Array.from([0x50, 0x4b, 3, 4, ...good.subarray(4)]));
    await expectError(path, 'E_DATA_FORMAT', /magic 0x504b0304, not an IDX file, expected 0x00000803/, 3);
  });

  it('reports a labels file where images are expected as E_DATA_FORMAT', async () => {
    const path = await file('labels', encodeIdx([60], images));
    await expectError(
      path,
      'E_DATA_FORMAT',
      /magic 0x00000801 \(1 dims\), expected 0x00000803 \(3 dims\)/,
      3,
    );
  });

  it('reports a non-uint8 element type as E_DATA_FORMAT', async () => {
    const floats = Uint8Array.from(good);
    floats[2] = 0x0d;
    await expectError(await file('floats', floats), 'E_DATA_FORMAT', /element type 0x0d, expected 0x08/);
  });

  it('names the accepted types when a file has another one', async () => {
    const shorts = await file('shorts', encodeIdx([3, 4, 5], images, 0x0b));
    const e = await caught(() => readIdx(shorts, { types: [0x08, 0x0d] }));
    expect(e.message).toMatch(/element type 0x0b, expected 0x08 \(uint8\), 0x0d \(float\)/);
    const bad = Uint8Array.from(good);
    bad[2] = 0x0a; // not a type of the format
    const t0a = await file('t0a', bad);
    const f = await caught(() => readIdx(t0a, { types: Object.keys(IDX_TYPES).map(Number) }));
    expect(f.message).toMatch(/element type 0x0a, expected 0x08 \(uint8\), 0x09 \(byte\)/);
  });

  it('counts the body of a wider type in elements and bytes', async () => {
    const cut = encodeIdx([3, 4, 5], images, 0x0c).subarray(0, 16 + 200);
    const ints = await file('ints', cut);
    const e = await caught(() => readIdx(ints, { types: [0x0c] }));
    expect(isDdpError(e, 'E_DATA_TRUNCATED')).toBe(true);
    expect(e.message).toMatch(/200-byte body, expected 3×4×5 = 60 ints = 240 bytes/);
  });

  it('reports a header cut inside the dimensions as E_DATA_TRUNCATED', async () => {
    await expectError(
      await file('hdr', good.subarray(0, 10)),
      'E_DATA_TRUNCATED',
      /expected a 16-byte header/,
    );
    await expectError(
      await file('tiny', good.subarray(0, 2)),
      'E_DATA_TRUNCATED',
      /expected at least a 4-byte/,
    );
  });

  it('reports a truncated gzip file as E_DATA_TRUNCATED', async () => {
    const gz = gzipSync(
      encodeIdx(
        [200, 28, 28],
        new Uint8Array(200 * 784).map((_, i) => (i * 31) & 0xff),
      ),
    );
    const path = await file('cut.gz', gz.subarray(0, Math.floor(gz.length / 2)));
    await expectError(path, 'E_DATA_TRUNCATED', /truncated gzip file/);
  });

  it('reports a corrupt gzip stream as E_DATA_FORMAT', async () => {
    const gz = gzipSync(good);
    gz[gz.length - 8]! ^= 0xff; // CRC-32 of the content
    await expectError(
      await file('crc.gz', gz),
      'E_DATA_FORMAT',
      /not a valid gzip file \(zlib: incorrect data check\)/,
    );
    const method = gzipSync(good);
    method[2] = 7; // compression method other than deflate
    await expectError(await file('method.gz', method), 'E_DATA_FORMAT', /not a valid gzip file/);
  });

  it('reports a gzip file holding a short IDX body as E_DATA_TRUNCATED', async () => {
    const path = await file('inner.gz', gzipSync(good.subarray(0, 40)));
    await expectError(path, 'E_DATA_TRUNCATED', /24-byte body, expected 3×4×5 = 60 bytes/);
  });

  it('uses the caller hint instead of the default one', async () => {
    const path = await file('hint', good.subarray(0, 20));
    const e = await caught(() => readIdx(path, { hint: 'reinstall the package' }));
    expect(e.message).toMatch(/; reinstall the package$/);
  });
});
