import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { isDdpError } from '@tfjs-ddp/core';
import { sha256Hex } from './checksum';
import { downloadIdx } from './download';
import { encodeIdx } from './idx-writer';
import { deadBaseUrl, serveFixtures } from './test-http-server';
import type { FixtureServer } from './test-http-server';
import { caught, useTempDirs } from './test-tmp';

const tempDir = useTempDirs();
const idx = encodeIdx(
  [64, 28, 28],
  new Uint8Array(64 * 784).map((_, i) => (i * 13) & 0xff),
);
const gz = gzipSync(idx);
const sha = sha256Hex(idx);

let server: FixtureServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function download(route: Parameters<typeof serveFixtures>[0][string], sha256 = sha) {
  server = await serveFixtures({ '/f.gz': route });
  const dir = join(await tempDir(), 'cache');
  const run = () => downloadIdx({ url: `${server!.baseUrl}f.gz`, dir, name: 'f', sha256 });
  return { dir, run };
}

describe('downloadIdx', () => {
  it('stores a verified .gz under its final name and leaves no temp file', async () => {
    const { dir, run } = await download({ body: gz });
    const path = await run();
    expect(path).toBe(join(dir, 'f.gz'));
    expect(await readFile(path)).toEqual(gz);
    expect(await readdir(dir)).toEqual(['f.gz']);
  });

  it('stores a body that arrives already decompressed under the raw name', async () => {
    const { dir, run } = await download({ body: idx });
    expect(await run()).toBe(join(dir, 'f'));
  });

  it('rejects a body with the wrong SHA-256 as E_DATA_CHECKSUM and writes nothing', async () => {
    const { dir, run } = await download({ body: gz }, 'ab'.repeat(32));
    const e = await caught(run);
    expect(isDdpError(e, 'E_DATA_CHECKSUM'), e.message).toBe(true);
    expect(e.message).toMatch(/f\.gz has sha256 [0-9a-f]{12}…, expected abababababab…/);
    expect(await readdir(dir).catch(() => [])).toEqual([]);
  });

  it('reports a connection closed mid-body as E_DATA_DOWNLOAD and writes nothing', async () => {
    const { dir, run } = await download({ body: gz, cutAfter: Math.floor(gz.length / 2) });
    const e = await caught(run);
    expect(isDdpError(e, 'E_DATA_DOWNLOAD'), e.message).toBe(true);
    expect(e.message).toMatch(/download of http:\/\/127\.0\.0\.1:\d+\/f\.gz broke off/);
    expect(await readdir(dir).catch(() => [])).toEqual([]);
  });

  it('reports an HTTP error status as E_DATA_DOWNLOAD naming the URL', async () => {
    const { run } = await download({ status: 404 });
    const e = await caught(run);
    expect(isDdpError(e, 'E_DATA_DOWNLOAD')).toBe(true);
    expect(e.message).toMatch(/f\.gz answered HTTP 404/);
  });

  it('reports a complete but truncated gzip body as E_DATA_TRUNCATED and writes nothing', async () => {
    const { dir, run } = await download({ body: gz.subarray(0, gz.length - 100) });
    expect(isDdpError(await caught(run), 'E_DATA_TRUNCATED')).toBe(true);
    expect(await readdir(dir).catch(() => [])).toEqual([]);
  });

  it('names the Debian package and --data-dir when the host cannot be reached', async () => {
    const dir = await tempDir();
    const url = `${await deadBaseUrl()}f.gz`;
    const e = await caught(() => downloadIdx({ url, dir, name: 'f', sha256: sha }));
    expect(isDdpError(e, 'E_DATA_DOWNLOAD')).toBe(true);
    expect(e.message).toMatch(/could not download .*ECONNREFUSED/);
    expect(e.message).toContain('apt-get install dataset-fashion-mnist');
    expect(e.message).toContain('--data-dir');
  });

  it('uses the injected fetch', async () => {
    const dir = await tempDir();
    const seen: string[] = [];
    const path = await downloadIdx({
      url: 'http://example.invalid/f.gz',
      dir,
      name: 'f',
      sha256: sha,
      fetch: (url) => {
        seen.push(url);
        const body = gz.buffer.slice(gz.byteOffset, gz.byteOffset + gz.length) as ArrayBuffer;
        return Promise.resolve({
          ok: true,
          status: 200,
          statusText: 'OK',
          arrayBuffer: () => Promise.resolve(body),
        });
      },
    });
    expect(seen).toEqual(['http://example.invalid/f.gz']);
    expect(path).toBe(join(dir, 'f.gz'));
  });
});
