// Private directories for ipc:// sockets. A coordinator removes its own when it shuts down, but one
// that is SIGKILLed cannot: each directory therefore names its owner's pid in a marker file, and the
// next coordinator on the machine removes the directories whose owner is gone. Directories without
// the marker (made by something else) are never touched. A worker whose coordinator died removes the
// directory itself (removeSocketDirOwnedBy), so a sweep is only the fallback. Used by the CLI's
// single-node mode.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The marker file in a socket directory: the owner's pid, in decimal. */
export const SOCKET_DIR_OWNER = 'owner.pid';

/** Creates `parent/prefixXXXXXX`, marked as owned by this process. */
export function makeSocketDir(parent: string, prefix: string): string {
  const dir = mkdtempSync(join(parent, prefix));
  writeFileSync(join(dir, SOCKET_DIR_OWNER), String(process.pid));
  return dir;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Removes the socket directories under `parent` starting with `prefix` whose owner process has
 * exited. Returns the removed paths. Never throws: a directory it cannot read or remove is left.
 */
export function sweepStaleSocketDirs(parent: string, prefix: string): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(parent).filter((n) => n.startsWith(prefix));
  } catch {
    return removed;
  }
  for (const name of names) {
    const dir = join(parent, name);
    try {
      const pid = Number(readFileSync(join(dir, SOCKET_DIR_OWNER), 'utf8'));
      if (!Number.isInteger(pid) || pid <= 0 || alive(pid)) continue;
      rmSync(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch {
      // No marker (not ours), not a directory, or not ours to remove: leave it.
    }
  }
  return removed;
}

/**
 * Removes the socket directory `dir` if its marker names `ownerPid`: for a local worker whose
 * coordinator (that pid, its parent) has died, so the directory does not wait for the next sweep.
 * Whether the owner is gone is the caller's judgement. Several workers may race to remove the same
 * directory: removal is recursive and forced, and it never throws. Returns whether this call found
 * the marker naming `ownerPid` (and so removed the directory, unless another remover was first).
 */
export function removeSocketDirOwnedBy(dir: string, ownerPid: number): boolean {
  if (!Number.isInteger(ownerPid) || ownerPid <= 0) return false;
  try {
    if (readFileSync(join(dir, SOCKET_DIR_OWNER), 'utf8').trim() !== String(ownerPid)) return false;
    rmSync(dir, { recursive: true, force: true });
    return true;
  } catch {
    // No marker (gone already, or not a socket directory) or not ours to remove: leave it.
    return false;
  }
}
