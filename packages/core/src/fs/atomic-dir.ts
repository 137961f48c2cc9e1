// Writes a directory of files so that it appears complete or not at all: everything goes into a
// sibling temporary directory, which then replaces the target by rename. Used for model exports and
// checkpoints, so a crash never leaves a half-written model that looks complete.
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { resolveInside } from '../security/wire-paths';
import { diskFullError, isDiskFull } from './disk-full';

/**
 * Replaces `dir` with exactly `files` (name → content). Returns the written paths.
 * @throws DdpError E_PROTOCOL, before anything is written, when a name is not a plain file name
 *   (a separator, `..`): a name never leads outside `dir`; E_DISK_FULL naming `dir` when the disk is
 *   full (the old directory is then untouched).
 */
export function writeDirAtomically(dir: string, files: Record<string, string | Uint8Array>): string[] {
  const target = resolve(dir);
  const tmp = `${target}.tmp-${process.pid}`;
  const paths = Object.keys(files).map((name) => [name, resolveInside(tmp, name, 'a model file')] as const);
  rmSync(tmp, { recursive: true, force: true });
  try {
    mkdirSync(tmp, { recursive: true });
    for (const [name, path] of paths) writeFileSync(path, files[name]!);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw isDiskFull(e) ? diskFullError(e, target, 'the directory') : e;
  }
  mkdirSync(dirname(target), { recursive: true });
  const old = `${target}.old-${process.pid}`;
  if (existsSync(target)) renameSync(target, old);
  renameSync(tmp, target);
  rmSync(old, { recursive: true, force: true });
  return paths.map(([name]) => resolveInside(target, name, 'a model file'));
}
