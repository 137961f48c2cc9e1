// The run directory's lock: `<run-dir>/.lock`, JSON {pid, host, started}, held by the one process
// (train or coordinator, new or --resume) that writes the directory, so that two of them never
// write one run. Taken by RunDir, released by RunDir.close() and, as a last resort, at process exit.
// A lock whose owner is gone (same host, pid not running: a SIGKILL, a crash) is stale and taken
// over with one line saying so; a lock of another host cannot be checked from here and is refused.
import { hostname } from 'node:os';
import { join } from 'node:path';
import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { DdpError } from '@tfjs-ddp/core';

export const LOCK_FILE = '.lock';

/** What `.lock` holds. */
export interface LockOwner {
  pid: number;
  host: string;
  /** ISO time the owner took the lock. */
  started: string;
}

/** Whether process `pid` of this host runs (EPERM: it runs, as another user). */
export function pidRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The owner recorded in `dir`/.lock; null when there is no lock; 'unreadable' when it is not one. */
export function readLock(dir: string): LockOwner | null | 'unreadable' {
  let text: string;
  try {
    text = readFileSync(join(dir, LOCK_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return 'unreadable';
  }
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o.pid === 'number' && typeof o.host === 'string' && typeof o.started === 'string')
      return { pid: o.pid, host: o.host, started: o.started };
  } catch {
    // not JSON: not a lock this program wrote
  }
  return 'unreadable';
}

/** The lock files this process holds (a library caller may hold several). */
const heldHere = new Set<string>();

/**
 * Whether the lock in `dir` belongs to a process that may still write it (not a stale lock). A lock
 * naming this very process that it does not hold is stale: a restarted container numbers its
 * processes as before, so the dead coordinator's pid may be ours.
 */
export function lockIsLive(dir: string, owner: LockOwner): boolean {
  if (owner.host !== hostname()) return true;
  if (owner.pid === process.pid) return heldHere.has(join(dir, LOCK_FILE));
  return pidRunning(owner.pid);
}

/** The refusal for a directory another process holds, naming it and what to do. */
export function lockedError(dir: string, owner: LockOwner | 'unreadable'): DdpError {
  const file = join(dir, LOCK_FILE);
  if (owner === 'unreadable')
    return new DdpError(
      'E_CONFIG',
      `${file} exists but is not a tfjs-ddp lock`,
      `if no run uses ${dir}, remove ${file}`,
    );
  const who = `pid ${owner.pid} on host ${owner.host}, since ${owner.started}`;
  if (owner.host !== hostname()) {
    return new DdpError(
      'E_CONFIG',
      `run directory ${dir} is in use by ${who}`,
      `wait for that run to end; if host ${owner.host} is gone and no run uses the directory, remove ${file}`,
    );
  }
  return new DdpError(
    'E_CONFIG',
    `run directory ${dir} is in use by ${who} (running)`,
    `wait for that run to end, or stop it (kill -INT ${owner.pid}: it checkpoints), then resume`,
  );
}

export class RunLock {
  private released = false;
  private readonly onExit = () => this.release();

  private constructor(
    readonly dir: string,
    readonly owner: LockOwner,
  ) {
    process.on('exit', this.onExit);
  }

  /**
   * Takes `dir`/.lock for this process (the directory must exist). A stale lock (this host, pid not
   * running) is taken over and `note` says so.
   * @throws DdpError E_CONFIG when a live process, another host or an unreadable file holds it, or
   *   when nothing can be written in `dir` (permissions, a read-only file system)
   */
  static acquire(dir: string, note: (line: string) => void = () => undefined): RunLock {
    const owner: LockOwner = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
    const file = join(dir, LOCK_FILE);
    // Written whole under a private name, then linked: link(2) fails with EEXIST like O_EXCL, and
    // no reader ever sees a half-written lock.
    const mine = join(dir, `${LOCK_FILE}.${process.pid}.tmp`);
    try {
      writeFileSync(mine, `${JSON.stringify(owner)}\n`);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? String(e);
      throw new DdpError(
        'E_CONFIG',
        `cannot write in run directory ${dir} (${code}${code === 'EACCES' ? ': permission denied' : code === 'EROFS' ? ': read-only file system' : ''})`,
        'pass a --run-dir in a directory you can write to',
      );
    }
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          linkSync(mine, file);
          heldHere.add(file);
          return new RunLock(dir, owner);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
        const held = readLock(dir);
        if (held === null && attempt < 3) continue; // released between our link and our read: try again
        if (held === null || held === 'unreadable' || lockIsLive(dir, held) || attempt >= 3)
          throw lockedError(dir, held ?? 'unreadable');
        if (takeOverStale(dir, held))
          note(
            `took over the stale lock of ${dir}: pid ${held.pid} on ${held.host} (since ${held.started}) is not running`,
          );
      }
    } finally {
      unlinkSync(mine);
    }
  }

  /** Removes the lock if it is still this process's (idempotent). */
  release(): void {
    if (this.released) return;
    this.released = true;
    process.off('exit', this.onExit);
    heldHere.delete(join(this.dir, LOCK_FILE));
    const held = readLock(this.dir);
    if (
      held !== null &&
      held !== 'unreadable' &&
      held.pid === this.owner.pid &&
      held.started === this.owner.started
    ) {
      try {
        unlinkSync(join(this.dir, LOCK_FILE));
      } catch {
        // already gone (the directory was removed): nothing to release
      }
    }
  }
}

/**
 * Moves a stale lock out of the way (rename is atomic: of two processes taking it over, one moves
 * it). Returns whether the lock moved was the stale one; if a live lock was moved instead (another
 * process took over in between), it is put back.
 */
function takeOverStale(dir: string, stale: LockOwner): boolean {
  const moved = join(dir, `${LOCK_FILE}.stale-${process.pid}`);
  try {
    renameSync(join(dir, LOCK_FILE), moved);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  const got = readLockFile(moved);
  if (got !== null && got.pid === stale.pid && got.started === stale.started) {
    unlinkSync(moved);
    return true;
  }
  try {
    linkSync(moved, join(dir, LOCK_FILE));
  } catch {
    // a third process holds it now; ours is refused by the next read either way
  }
  unlinkSync(moved);
  return false;
}

function readLockFile(path: string): LockOwner | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
  } catch {
    return null;
  }
}
