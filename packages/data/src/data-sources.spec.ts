import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findFashionMnistFiles, resolveDataSources } from './data-sources';
import { useTempDirs } from './test-tmp';

const tempDir = useTempDirs();

describe('resolveDataSources', () => {
  it('defaults to ~/.cache/tfjs-ddp/fashion-mnist and the Debian directory', () => {
    expect(resolveDataSources({ env: {}, homeDir: '/home/u' })).toEqual({
      cacheDir: '/home/u/.cache/tfjs-ddp/fashion-mnist',
      debianDir: '/usr/share/datasets/fashion-mnist',
    });
  });

  it('puts the cache under an absolute XDG_CACHE_HOME and ignores a relative one', () => {
    expect(resolveDataSources({ env: { XDG_CACHE_HOME: '/xdg' }, homeDir: '/h' }).cacheDir).toBe(
      '/xdg/tfjs-ddp/fashion-mnist',
    );
    expect(resolveDataSources({ env: { XDG_CACHE_HOME: 'rel' }, homeDir: '/h' }).cacheDir).toBe(
      '/h/.cache/tfjs-ddp/fashion-mnist',
    );
  });

  it('lets the cacheDir option beat TFJS_DDP_CACHE, which beats XDG_CACHE_HOME', () => {
    const env = { TFJS_DDP_CACHE: '/env-cache', XDG_CACHE_HOME: '/xdg' };
    expect(resolveDataSources({ env }).cacheDir).toBe('/env-cache');
    expect(resolveDataSources({ env, cacheDir: '/opt-cache' }).cacheDir).toBe('/opt-cache');
  });

  it('lets the dataDir option beat TFJS_DDP_DATA and says where the directory came from', () => {
    const env = { TFJS_DDP_DATA: '/env-data' };
    expect(resolveDataSources({ env }).explicit).toEqual({ dir: '/env-data', from: 'TFJS_DDP_DATA' });
    expect(resolveDataSources({ env, dataDir: '/flag' }).explicit).toEqual({
      dir: '/flag',
      from: '--data-dir',
    });
    expect(resolveDataSources({ env: { TFJS_DDP_DATA: '' } }).explicit).toBeUndefined();
  });

  it("reads TFJS_DDP_DATA_DIR, train's variable for --data-dir, before TFJS_DDP_DATA", () => {
    const env = { TFJS_DDP_DATA: '/old', TFJS_DDP_DATA_DIR: '/new' };
    expect(resolveDataSources({ env }).explicit).toEqual({ dir: '/new', from: 'TFJS_DDP_DATA_DIR' });
    expect(resolveDataSources({ env: { ...env, TFJS_DDP_DATA_DIR: '' } }).explicit).toEqual({
      dir: '/old',
      from: 'TFJS_DDP_DATA',
    });
    expect(resolveDataSources({ env, dataDir: '/flag' }).explicit?.from).toBe('--data-dir');
  });

  it('names the origin a caller gives for the dataDir option (one that read it from the environment)', () => {
    expect(resolveDataSources({ env: {}, dataDir: '/d', dataDirFrom: 'TFJS_DDP_DATA_DIR' }).explicit).toEqual(
      {
        dir: '/d',
        from: 'TFJS_DDP_DATA_DIR',
      },
    );
  });

  it('skips the Debian directory when debianDir is null', () => {
    expect(resolveDataSources({ env: {}, debianDir: null }).debianDir).toBeNull();
  });
});

describe('findFashionMnistFiles', () => {
  it('finds raw and .gz files, prefers raw, and lists the missing ones', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'train-images-idx3-ubyte'), '');
    await writeFile(join(dir, 'train-images-idx3-ubyte.gz'), '');
    await writeFile(join(dir, 't10k-labels-idx1-ubyte.gz'), '');
    await mkdir(join(dir, 'train-labels-idx1-ubyte')); // a directory is not a file
    expect(await findFashionMnistFiles(dir)).toEqual({
      found: {
        trainImages: join(dir, 'train-images-idx3-ubyte'),
        testLabels: join(dir, 't10k-labels-idx1-ubyte.gz'),
      },
      missing: ['trainLabels', 'testImages'],
    });
  });

  it('reports all four missing for a directory that does not exist', async () => {
    expect((await findFashionMnistFiles(join(await tempDir(), 'nope'))).missing).toHaveLength(4);
  });
});
