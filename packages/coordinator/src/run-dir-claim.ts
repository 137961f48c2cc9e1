// Claiming a run directory for a new run, as RunDir does before it writes anything: a directory
// that holds anything is refused (a finished run, a user's files in model/: nothing is overwritten),
// or with --overwrite moved aside whole to a sibling `<dir>.old-<time>` (nothing is deleted).
// Default directories (`runs/<UTC time>`) are created atomically, with a suffix when the name is
// taken, so two runs started in the same second never share one.
import { existsSync, mkdirSync, readdirSync, renameSync, rmdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DdpError } from '@tfjs-ddp/core';
import { lockIsLive, lockedError, readLock } from './run-lock';

/** How many of a refused directory's entries the error names. */
const SHOWN_ENTRIES = 5;

/** `20261125-193012`: a UTC time to the second, as run directories are named. */
function stamp(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** `runs/<UTC timestamp>` under `base`, e.g. runs/20261125-193012 (the name only; see makeDefaultRunDir). */
export function defaultRunDir(base = 'runs', now = new Date()): string {
  return join(base, stamp(now));
}

/**
 * Creates a new, empty default run directory and returns its path: runs/<UTC time>, or with -2, -3 …
 * when another run took that name (mkdir of the leaf is the atomic claim).
 */
export function makeDefaultRunDir(base = 'runs', now = new Date()): string {
  mkdirSync(base, { recursive: true });
  return mkdirUnique(defaultRunDir(base, now));
}

function mkdirUnique(path: string): string {
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? path : `${path}-${n}`;
    try {
      mkdirSync(candidate);
      return candidate;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

/**
 * Makes `path` an empty directory for a new run. Returns where the old content went (with
 * `overwrite`), else null.
 * @throws DdpError E_CONFIG when it is not a directory, holds anything (without `overwrite`), or
 *   is in use by a live run (also with `overwrite`)
 */
export function claimNewRunDir(path: string, o: { overwrite?: boolean; now?: Date } = {}): string | null {
  let aside: string | null = null;
  if (existsSync(path)) {
    if (!statSync(path).isDirectory())
      throw new DdpError(
        'E_CONFIG',
        `run directory ${path} exists and is not a directory`,
        'pass another --run-dir',
      );
    const entries = readdirSync(path).sort();
    if (entries.length > 0) {
      const held = readLock(path);
      if (held === 'unreadable' || (held !== null && lockIsLive(path, held))) throw lockedError(path, held);
      if (o.overwrite !== true) throw occupied(path, entries);
      aside = moveAside(path, o.now ?? new Date());
    }
  }
  mkdirSync(dirname(path), { recursive: true });
  try {
    mkdirSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; // an empty directory: used as it is
  }
  return aside;
}

function occupied(path: string, entries: string[]): DdpError {
  const shown =
    entries.slice(0, SHOWN_ENTRIES).join(', ') +
    (entries.length > SHOWN_ENTRIES ? `, … (${entries.length} entries)` : '');
  const isRun = entries.includes('config.json');
  return new DdpError(
    'E_CONFIG',
    `run directory ${path} is not empty (${shown})${isRun ? ': it holds a run' : ''}; nothing in it is overwritten`,
    `${isRun ? `continue that run with --resume ${path}, ` : ''}pass another --run-dir (or none, for a new runs/<time>), or add --overwrite to move its content to ${basename(path)}.old-<time> beside it (nothing is deleted)`,
  );
}

/** Renames `path` to a free sibling `<path>.old-<time>[-n]` and returns that (mkdir claims the name; rename replaces the empty directory). */
function moveAside(path: string, now: Date): string {
  const target = mkdirUnique(`${path}.old-${stamp(now)}`);
  try {
    renameSync(path, target);
  } catch (e) {
    rmdirSync(target); // the empty directory made just now
    throw new DdpError(
      'E_CONFIG',
      `--overwrite: cannot move ${path} to ${target} (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
      'move or remove it yourself, or pass another --run-dir',
    );
  }
  return target;
}
