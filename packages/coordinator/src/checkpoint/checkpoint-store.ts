// The checkpoint store of a run directory: <run>/checkpoints/step-00000042/, each a complete
// checkpoint or none. Written so that a crash or power loss at any moment loses nothing: the files go
// into a temporary sibling directory, each fsynced, then the manifest with every file's SHA-256
// (the commit marker, written last), then the directory is renamed into place and the parent
// fsynced — a rename without these fsyncs can leave a correctly named file of zeros after a power
// loss. Reading skips (and names) a checkpoint whose manifest is missing or whose files do not match
// it, and takes the previous one. Called by the train loop (write) and `train --resume` (read).
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { buildManifest, DdpError, DISK_FULL_HINT, isDiskFull, MANIFEST_FILE, parseManifest, resolveInside, verifyEntry, type CheckpointManifest } from '@tfjs-ddp/core';

export const CHECKPOINTS_DIR = 'checkpoints';
const NAME = /^step-(\d{8,})$/;

export interface StoredCheckpoint {
  dir: string;
  manifest: CheckpointManifest;
  files: Record<string, Uint8Array>;
}

function writeFileSynced(path: string, data: Uint8Array): void {
  const fd = openSync(path, 'wx');
  try {
    for (let off = 0; off < data.byteLength; ) off += writeSync(fd, data, off, data.byteLength - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncDir(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function ioError(e: unknown, what: string, previous: string | null): DdpError {
  const code = (e as NodeJS.ErrnoException).code ?? 'error';
  if (isDiskFull(e)) return new DdpError('E_DISK_FULL', `no space left to write ${what} (${code}); ${previous === null ? 'there is no earlier checkpoint' : `the previous checkpoint ${previous} is intact`}`, DISK_FULL_HINT, { cause: e });
  const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EROFS' ? 'read-only file system' : (e as Error).message;
  return new DdpError(
    'E_CHECKPOINT',
    `cannot write ${what} (${code}: ${why}); ${previous === null ? 'there is no earlier checkpoint' : `the previous checkpoint ${previous} is intact`}`,
    'free space in the run directory or make it writable, then resume with `tfjs-ddp train --resume RUN_DIR`',
  );
}

export class CheckpointStore {
  readonly root: string;

  constructor(
    runDir: string,
    private readonly keep = 2,
  ) {
    this.root = join(runDir, CHECKPOINTS_DIR);
  }

  /** Checkpoint directory names, newest (highest step) first. */
  names(): string[] {
    if (!existsSync(this.root)) return [];
    return readdirSync(this.root)
      .filter((n) => NAME.test(n))
      .sort()
      .reverse();
  }

  /**
   * Writes a checkpoint of `files` taken after `at.step` steps, then removes all but the newest
   * `keep`. Returns its directory.
   * @throws DdpError E_DISK_FULL (naming the checkpoint and the directory) or E_CHECKPOINT (an unwritable
   *   directory), leaving earlier checkpoints intact.
   */
  write(files: Record<string, Uint8Array>, at: { step: number; epoch: number; batchInEpoch: number }): string {
    const name = `step-${String(at.step).padStart(8, '0')}`;
    const final = join(this.root, name);
    const tmp = join(this.root, `.tmp-${name}-${process.pid}`);
    let previous: string | null = null;
    try {
      previous = this.names()[0] ?? null;
      mkdirSync(this.root, { recursive: true });
      // What a writer killed mid-write left (one coordinator writes a run directory at a time).
      for (const n of readdirSync(this.root)) if (n.startsWith('.tmp-')) rmSync(join(this.root, n), { recursive: true, force: true });
      mkdirSync(tmp);
      const killAt = Number(process.env['TFJS_DDP_INJECT_CHECKPOINT_KILL'] ?? NaN);
      for (const [i, [n, data]] of Object.entries(files).entries()) {
        writeFileSynced(resolveInside(tmp, n, 'a checkpoint file'), data);
        // Drill: the coordinator dies half-way through writing this checkpoint.
        if (killAt === at.step && i === 1) process.kill(process.pid, 'SIGKILL');
      }
      // The commit marker: a directory without it is not a checkpoint.
      writeFileSynced(join(tmp, MANIFEST_FILE), new TextEncoder().encode(`${JSON.stringify(buildManifest(files, at), null, 1)}\n`));
      fsyncDir(tmp);
      if (existsSync(final)) rmSync(final, { recursive: true, force: true }); // the same step again (a stop right after a periodic checkpoint)
      renameSync(tmp, final);
      fsyncDir(this.root);
    } catch (e) {
      try {
        rmSync(tmp, { recursive: true, force: true });
      } catch {
        // nothing was created there
      }
      throw isDdp(e) ? e : ioError(e, `checkpoint ${name} in ${this.root}`, previous);
    }
    for (const old of this.names().slice(this.keep)) rmSync(join(this.root, old), { recursive: true, force: true });
    return final;
  }

  /**
   * The newest checkpoint whose manifest and files check out; each one skipped is reported through
   * `skipped` with the reason (which file, what is wrong). Null when there is none.
   */
  latest(skipped: (dir: string, reason: string) => void = () => undefined): StoredCheckpoint | null {
    for (const name of this.names()) {
      const dir = join(this.root, name);
      try {
        return this.read(dir);
      } catch (e) {
        skipped(dir, e instanceof Error ? e.message : String(e));
      }
    }
    return null;
  }

  /** @throws DdpError E_CHECKPOINT naming the file that is missing, truncated or altered. */
  read(dir: string): StoredCheckpoint {
    const manifestPath = join(dir, MANIFEST_FILE);
    if (!existsSync(manifestPath)) throw new DdpError('E_CHECKPOINT', `${manifestPath} is missing: the checkpoint was not finished`);
    const manifest = parseManifest(readFileSync(manifestPath, 'utf8'), manifestPath);
    const files: Record<string, Uint8Array> = {};
    for (const entry of manifest.files) {
      const path = resolveInside(dir, entry.name, `${manifestPath}`);
      const data = existsSync(path) ? new Uint8Array(readFileSync(path)) : null;
      verifyEntry(entry, data, dir);
      files[entry.name] = data!;
    }
    return { dir, manifest, files };
  }
}

function isDdp(e: unknown): e is DdpError {
  return e instanceof DdpError;
}
