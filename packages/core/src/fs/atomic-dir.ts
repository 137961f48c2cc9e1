// Writes a directory of files so that it appears complete or not at all: everything goes into a
// sibling temporary directory, which then replaces the target by rename. Used for model exports and
// checkpoints, so a crash never leaves a half-written model that looks complete.
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** Replaces `dir` with exactly `files` (name → content). Returns the written paths. */
export function writeDirAtomically(dir: string, files: Record<string, string | Uint8Array>): string[] {
  const target = resolve(dir);
  const tmp = `${target}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(tmp, name), content);
  mkdirSync(dirname(target), { recursive: true });
  const old = `${target}.old-${process.pid}`;
  if (existsSync(target)) renameSync(target, old);
  renameSync(tmp, target);
  rmSync(old, { recursive: true, force: true });
  return Object.keys(files).map((f) => join(target, f));
}
