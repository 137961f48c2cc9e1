// Claiming a run directory for a new run, as RunDir does before it writes anything: a directory
// that holds anything is refused (a finished run, a user's files in model/: nothing is overwritten),
// or with --overwrite moved aside whole to a sibling `<dir>.old-<time>` (nothing is deleted).
// Default directories (`runs/<UTC time>`) are created atomically, with a suffix when the name is
// taken, so two runs started in the same second never share one. A directory the file system will
// not create or read is an E_CONFIG naming it and the OS's reason.
import { existsSync, mkdirSync, readdirSync, renameSync, rmdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DdpError, MANIFEST_FILE } from '@tfjs-ddp/core';
import { CheckpointStore } from './checkpoint/checkpoint-store';
import { isRunDir } from './run-dir-detect';
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
  const path = defaultRunDir(base, now);
  try {
    mkdirSync(base, { recursive: true });
    return mkdirUnique(path);
  } catch (e) {
    throw fsRefused(path, 'create', e);
  }
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
 * @throws DdpError E_CONFIG when it is not a directory, holds anything (without `overwrite`), is
 *   in use by a live run (also with `overwrite`), or cannot be created or read (naming the OS's reason)
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
    let entries: string[];
    try {
      entries = readdirSync(path).sort();
    } catch (e) {
      throw fsRefused(path, 'read', e);
    }
    if (entries.length > 0) {
      const held = readLock(path);
      if (held === 'unreadable' || (held !== null && lockIsLive(path, held))) throw lockedError(path, held);
      if (o.overwrite !== true) throw occupied(path, entries);
      aside = moveAside(path, o.now ?? new Date());
    }
  }
  try {
    mkdirSync(dirname(path), { recursive: true });
    mkdirSync(path);
  } catch (e) {
    // EEXIST for path itself: an empty directory, used as it is.
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !isDirectory(path))
      throw fsRefused(path, 'create', e);
  }
  return aside;
}

function occupied(path: string, entries: string[]): DdpError {
  const shown =
    entries.slice(0, SHOWN_ENTRIES).join(', ') +
    (entries.length > SHOWN_ENTRIES ? `, … (${entries.length} entries)` : '');
  const elsewhere = `pass another --run-dir (or none, for a new runs/<time>), or add --overwrite to move its content to ${basename(path)}.old-<time> beside it (nothing is deleted)`;
  if (!isRunDir(path)) {
    return new DdpError(
      'E_CONFIG',
      `run directory ${path} is not empty (${shown}); nothing in it is overwritten`,
      elsewhere,
    );
  }
  // Only a run with a checkpoint can be resumed: a run that failed before its first has none.
  const store = new CheckpointStore(path);
  if (!store.names().some((n) => existsSync(join(store.root, n, MANIFEST_FILE)))) {
    return new DdpError(
      'E_CONFIG',
      `run directory ${path} is not empty (${shown}): it holds a run that stopped before its first checkpoint, so there is nothing to --resume; nothing in it is overwritten`,
      `${elsewhere}; summary.json and train.log say why it stopped`,
    );
  }
  return new DdpError(
    'E_CONFIG',
    `run directory ${path} is not empty (${shown}): it holds a run; nothing in it is overwritten`,
    `continue that run with --resume ${path}, ${elsewhere}`,
  );
}

/**
 * The E_CONFIG for a run directory the file system refuses: the path, the OS's reason, what to do.
 * A file where a parent directory should be is named as such (mkdir says EEXIST or ENOTDIR).
 */
function fsRefused(path: string, verb: 'create' | 'read', e: unknown): DdpError {
  const err = e as NodeJS.ErrnoException;
  const code = err.code ?? String(e);
  const file = code === 'EEXIST' || code === 'ENOTDIR' ? fileInPath(path) : null;
  // Node's message is `CODE: what the OS says, syscall 'path'`.
  const reason =
    file !== null ? `${file} is a file, not a directory` : (/^\w+: ([^,]+)/.exec(err.message)?.[1] ?? code);
  return new DdpError(
    'E_CONFIG',
    `cannot ${verb} run directory ${path}: ${reason} (${code})`,
    `pass a --run-dir ${file !== null ? 'whose parents are directories' : 'in a directory you can write to'} (or none, for a new runs/<time> in the working directory)`,
    { cause: e },
  );
}

/** The nearest existing ancestor of `path` (or path itself) when it is not a directory, else null. */
function fileInPath(path: string): string | null {
  for (let p = path; ; p = dirname(p)) {
    if (existsSync(p)) return isDirectory(p) ? null : p;
    if (dirname(p) === p) return null;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
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
