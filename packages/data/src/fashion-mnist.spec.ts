import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isDdpError } from '@tfjs-ddp/core';
import { loadFashionMnist } from './fashion-mnist';
import type { LoadFashionMnistOptions } from './fashion-mnist';
import { FASHION_MNIST_NAMES } from './fashion-mnist-files';
import { writeIdx } from './idx-writer';
import { writeSyntheticFashionMnist } from './synthetic';
import { deadBaseUrl, serveFixtures } from './test-http-server';
import type { FixtureServer, Route } from './test-http-server';
import { caught, useTempDirs } from './test-tmp';

const tempDir = useTempDirs();

/** Options isolated from this machine: no env, no Debian dir, a temp home, no checksum. */
async function isolated(extra: LoadFashionMnistOptions = {}): Promise<LoadFashionMnistOptions> {
  return { env: {}, debianDir: null, homeDir: await tempDir(), verify: false, download: false, ...extra };
}

async function synthetic(train: number, test = 16, gzip = true): Promise<string> {
  const dir = await tempDir();
  await writeSyntheticFashionMnist(dir, { train, test, seed: train, gzip });
  return dir;
}

describe('loadFashionMnist sources', () => {
  it('reads a generated gzip dataset with the expected shapes', async () => {
    const ds = await loadFashionMnist(await isolated({ dataDir: await synthetic(64, 32) }));
    expect([ds.train.count, ds.test.count, ds.rows, ds.cols, ds.origin]).toEqual([
      64,
      32,
      28,
      28,
      'data-dir',
    ]);
    expect(ds.train.images.length).toBe(64 * 784);
    expect(ds.test.labels.length).toBe(32);
  });

  it('reads raw (uncompressed) files too', async () => {
    const ds = await loadFashionMnist(await isolated({ dataDir: await synthetic(20, 10, false) }));
    expect(ds.train.count).toBe(20);
  });

  it('prefers --data-dir over TFJS_DDP_DATA over the cache over the Debian directory', async () => {
    const [flag, env, cache, debian] = await Promise.all([
      synthetic(40),
      synthetic(30),
      synthetic(20),
      synthetic(10),
    ]);
    const base = await isolated({ cacheDir: cache, debianDir: debian });
    const count = async (o: LoadFashionMnistOptions) =>
      (await loadFashionMnist({ ...base, ...o })).train.count;
    expect(await count({ dataDir: flag, env: { TFJS_DDP_DATA: env } })).toBe(40);
    expect(await count({ env: { TFJS_DDP_DATA: env } })).toBe(30);
    expect(await count({})).toBe(20);
    expect(await count({ cacheDir: join(cache, 'empty') })).toBe(10);
    const fromDebian = await loadFashionMnist({ ...base, cacheDir: join(cache, 'empty') });
    expect([fromDebian.source, fromDebian.origin]).toEqual([debian, 'debian']);
  });

  it('does not fall through when an explicit directory lacks files, and names that directory', async () => {
    const dir = await synthetic(20);
    await rm(join(dir, 't10k-labels-idx1-ubyte.gz'));
    const e = await caught(async () =>
      loadFashionMnist(await isolated({ dataDir: dir, cacheDir: await synthetic(8) })),
    );
    expect(isDdpError(e, 'E_DATA_NOT_FOUND')).toBe(true);
    expect(e.message).toContain(`${dir} (from --data-dir) has no t10k-labels-idx1-ubyte[.gz]`);
  });

  it('says so when TFJS_DDP_DATA points at an empty directory', async () => {
    const dir = await tempDir();
    const e = await caught(async () => loadFashionMnist(await isolated({ env: { TFJS_DDP_DATA: dir } })));
    expect(e.message).toMatch(/\(from TFJS_DDP_DATA\) has no train-images-idx3-ubyte\[\.gz\]/);
  });

  it('names the Debian package and --data-dir when nothing is found and downloading is off', async () => {
    const e = await caught(async () => loadFashionMnist(await isolated()));
    expect(isDdpError(e, 'E_DATA_NOT_FOUND')).toBe(true);
    expect(e.message).toContain('apt-get install dataset-fashion-mnist');
    expect(e.message).toContain('--data-dir');
  });
});

describe('loadFashionMnist verification', () => {
  it('checks the canonical SHA-256 by default and names the file and both hashes', async () => {
    const dir = await synthetic(8);
    const e = await caught(async () =>
      loadFashionMnist({ ...(await isolated({ dataDir: dir })), verify: undefined }),
    );
    expect(isDdpError(e, 'E_DATA_CHECKSUM')).toBe(true);
    expect(e.message).toMatch(/train-images-idx3-ubyte\.gz has sha256 [0-9a-f]{12}…, expected c59f468a2f67…/);
    expect(e.message).toContain(dir);
  });

  it('accepts files matching a custom hash map', async () => {
    const dir = await tempDir();
    const sha256 = await writeSyntheticFashionMnist(dir, { train: 8, test: 4 });
    const ds = await loadFashionMnist(await isolated({ dataDir: dir, verify: true, sha256 }));
    expect(ds.train.count).toBe(8);
  });

  it('rejects label and image counts that disagree', async () => {
    const dir = await synthetic(12);
    await writeIdx(join(dir, 'train-labels-idx1-ubyte.gz'), [11], new Uint8Array(11), { gzip: true });
    const e = await caught(async () => loadFashionMnist(await isolated({ dataDir: dir })));
    expect(isDdpError(e, 'E_DATA_FORMAT')).toBe(true);
    expect(e.message).toMatch(/train-labels-idx1-ubyte\.gz has 11 labels, expected 12/);
  });

  it('rejects a label of 10 or more', async () => {
    const dir = await synthetic(12);
    await writeIdx(join(dir, 't10k-labels-idx1-ubyte.gz'), [16], new Uint8Array(16).fill(10), { gzip: true });
    const e = await caught(async () => loadFashionMnist(await isolated({ dataDir: dir })));
    expect(e.message).toMatch(
      /E_DATA_FORMAT: .*t10k-labels-idx1-ubyte\.gz has label 10 at index 0, expected 0\.\.9/,
    );
  });

  it('rejects images that are not 28×28', async () => {
    const dir = await synthetic(12);
    await writeIdx(join(dir, 't10k-images-idx3-ubyte.gz'), [16, 32, 32], new Uint8Array(16 * 1024), {
      gzip: true,
    });
    const e = await caught(async () => loadFashionMnist(await isolated({ dataDir: dir })));
    expect(e.message).toMatch(/E_DATA_FORMAT: .*t10k-images-idx3-ubyte\.gz has 32×32 images, expected 28×28/);
  });
});

describe('loadFashionMnist download', () => {
  let server: FixtureServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  /** Serves a generated dataset's .gz files; `tweak` can change a route. */
  async function upstream(tweak: (name: string, route: Route) => Route = (_, r) => r) {
    const src = await tempDir();
    const sha256 = await writeSyntheticFashionMnist(src, { train: 64, test: 32, seed: 5 });
    const routes: Record<string, Route> = {};
    for (const name of Object.values(FASHION_MNIST_NAMES)) {
      routes[`/${name}.gz`] = tweak(name, { body: await readFile(join(src, `${name}.gz`)) });
    }
    server = await serveFixtures(routes);
    const cacheDir = join(await tempDir(), 'cache');
    const options = await isolated({
      cacheDir,
      download: true,
      verify: true,
      sha256,
      baseUrl: server.baseUrl,
    });
    return { cacheDir, options, server };
  }

  it('downloads into the cache, verifies, and reads from the cache next time', async () => {
    const { cacheDir, options, server } = await upstream();
    const first = await loadFashionMnist(options);
    expect([first.origin, first.source, first.train.count, first.test.count]).toEqual([
      'download',
      cacheDir,
      64,
      32,
    ]);
    expect((await readdir(cacheDir)).sort()).toEqual(
      Object.values(FASHION_MNIST_NAMES)
        .map((n) => `${n}.gz`)
        .sort(),
    );
    expect(server.requests).toHaveLength(4);
    const second = await loadFashionMnist(options);
    expect(second.origin).toBe('cache');
    expect(server.requests).toHaveLength(4);
    expect(second.train.images).toEqual(first.train.images);
  });

  it('fetches only the files missing from the cache', async () => {
    const { cacheDir, options, server } = await upstream();
    await loadFashionMnist(options);
    await rm(join(cacheDir, 'train-images-idx3-ubyte.gz'));
    server.requests.length = 0;
    expect((await loadFashionMnist(options)).origin).toBe('download');
    expect(server.requests).toEqual(['/train-images-idx3-ubyte.gz']);
  });

  it('rejects a download with the wrong hash and leaves no file for it in the cache', async () => {
    const { cacheDir, options } = await upstream();
    const sha256 = { ...options.sha256, testImages: '0'.repeat(64) };
    const e = await caught(() => loadFashionMnist({ ...options, sha256 }));
    expect(isDdpError(e, 'E_DATA_CHECKSUM'), e.message).toBe(true);
    expect(e.message).toMatch(/t10k-images-idx3-ubyte\.gz has sha256 [0-9a-f]{12}…, expected 000000000000…/);
    const left = await readdir(cacheDir);
    expect(left.filter((f) => f.startsWith('t10k-images') || f.endsWith('.part'))).toEqual([]);
  });

  it('reports a body cut off mid-transfer and leaves no final file for it', async () => {
    const { cacheDir, options } = await upstream((name, route) =>
      name === FASHION_MNIST_NAMES.trainImages && 'body' in route ? { ...route, cutAfter: 100 } : route,
    );
    const e = await caught(() => loadFashionMnist(options));
    expect(isDdpError(e, 'E_DATA_DOWNLOAD'), e.message).toBe(true);
    const left = await readdir(cacheDir).catch(() => []);
    expect(left.filter((f) => f.startsWith('train-images') || f.endsWith('.part'))).toEqual([]);
  });

  it('names the searched dirs, the Debian package and --data-dir when offline', async () => {
    const cacheDir = join(await tempDir(), 'cache');
    const options = await isolated({ cacheDir, download: true, baseUrl: await deadBaseUrl() });
    const e = await caught(() => loadFashionMnist(options));
    expect(isDdpError(e, 'E_DATA_DOWNLOAD')).toBe(true);
    expect(e.message).toContain(`no Fashion-MNIST in ${cacheDir}`);
    expect(e.message).toContain('apt-get install dataset-fashion-mnist');
    expect(e.message).toContain('--data-dir');
  });

  it('never trusts a leftover temp file from an interrupted download', async () => {
    const { cacheDir, options, server } = await upstream();
    await loadFashionMnist(options);
    await rm(join(cacheDir, 'train-labels-idx1-ubyte.gz'));
    await writeFile(join(cacheDir, '.train-labels-idx1-ubyte.gz.123-abcd.part'), 'half');
    server.requests.length = 0;
    await loadFashionMnist(options);
    expect(server.requests).toEqual(['/train-labels-idx1-ubyte.gz']);
  });
});
