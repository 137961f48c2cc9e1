// Where the loader looks for Fashion-MNIST, in order: an explicit directory (--data-dir option, else
// env TFJS_DDP_DATA_DIR, else TFJS_DDP_DATA), the user cache, Debian's dataset-fashion-mnist package. The environment is read
// here and nowhere else in this package.

import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { DEBIAN_FASHION_MNIST_DIR, FASHION_MNIST_FILES, FASHION_MNIST_NAMES } from './fashion-mnist-files';
import type { FashionMnistFile } from './fashion-mnist-files';

/** Where the directories come from; tests pass all of them. */
export interface DataSourceOptions {
  /** Directory holding the 4 files (from --data-dir). Beats env TFJS_DDP_DATA_DIR and TFJS_DDP_DATA. Never falls through. */
  dataDir?: string;
  /** Where `dataDir` came from, for messages (default '--data-dir'): a caller that read it from the environment says so. */
  dataDirFrom?: DataDirOrigin;
  /**
   * The Fashion-MNIST cache directory itself (files go directly in it). Beats env TFJS_DDP_CACHE;
   * default `$XDG_CACHE_HOME/tfjs-ddp/fashion-mnist`, else `~/.cache/tfjs-ddp/fashion-mnist`.
   */
  cacheDir?: string;
  /** Debian package directory; null skips it. Default /usr/share/datasets/fashion-mnist. */
  debianDir?: string | null;
  /** Environment to read. Default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Home directory for the default cache. Default os.homedir(). */
  homeDir?: string;
}

/** How the user named the data directory. */
export type DataDirOrigin = '--data-dir' | 'TFJS_DDP_DATA_DIR' | 'TFJS_DDP_DATA';

/** The resolved directories, absolute. */
export interface DataSources {
  /** Set when the user named a directory; `from` says how (for messages). */
  explicit?: { dir: string; from: DataDirOrigin };
  cacheDir: string;
  debianDir: string | null;
}

/** Resolves the search directories from options and the environment (no I/O). */
export function resolveDataSources(options: DataSourceOptions = {}): DataSources {
  const env = options.env ?? process.env;
  const nonEmpty = (v: string | undefined): string | undefined =>
    v === undefined || v === '' ? undefined : v;
  // TFJS_DDP_DATA_DIR is --data-dir's variable (as train's settings are TFJS_DDP_<FLAG>);
  // TFJS_DDP_DATA is the older name, still read.
  const fromEnv = (['TFJS_DDP_DATA_DIR', 'TFJS_DDP_DATA'] as const).find(
    (n) => nonEmpty(env[n]) !== undefined,
  );
  const explicit =
    options.dataDir !== undefined
      ? { dir: resolve(options.dataDir), from: options.dataDirFrom ?? ('--data-dir' as const) }
      : fromEnv !== undefined
        ? { dir: resolve(env[fromEnv]!), from: fromEnv }
        : undefined;
  // XDG Base Directory spec: a relative XDG_CACHE_HOME is invalid and must be ignored.
  const xdg = nonEmpty(env['XDG_CACHE_HOME']);
  const cacheRoot = xdg !== undefined && isAbsolute(xdg) ? xdg : join(options.homeDir ?? homedir(), '.cache');
  const cacheDir = resolve(
    options.cacheDir ?? nonEmpty(env['TFJS_DDP_CACHE']) ?? join(cacheRoot, 'tfjs-ddp', 'fashion-mnist'),
  );
  const debianDir = options.debianDir === undefined ? DEBIAN_FASHION_MNIST_DIR : options.debianDir;
  return { ...(explicit ? { explicit } : {}), cacheDir, debianDir };
}

/** The files present in a directory, and the ones missing. */
export interface FoundFiles {
  found: Partial<Record<FashionMnistFile, string>>;
  missing: FashionMnistFile[];
}

/**
 * Looks for the four files in `dir`, each as `<name>` (preferred: no gunzip) or `<name>.gz`.
 * A missing directory simply reports all four missing.
 */
export async function findFashionMnistFiles(dir: string): Promise<FoundFiles> {
  const found: Partial<Record<FashionMnistFile, string>> = {};
  const missing: FashionMnistFile[] = [];
  for (const key of FASHION_MNIST_FILES) {
    const base = join(dir, FASHION_MNIST_NAMES[key]);
    if (await isFile(base)) found[key] = base;
    else if (await isFile(`${base}.gz`)) found[key] = `${base}.gz`;
    else missing.push(key);
  }
  return { found, missing };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
