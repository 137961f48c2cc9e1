// Writes of a run directory that a full disk leaves readable, and the one error it gives: E_DISK_FULL
// naming the path, instead of ENOSPC escaping as "unexpected error". Lines are appended whole or not
// at all (a failed append is truncated back), JSON documents go to a temporary name first, and a small
// reserve file, given back on the first ENOSPC, leaves room for the failed run's summary.json and
// last log lines. Used by the coordinator's RunDir, its log destination and the checkpoint store.
import {
  closeSync,
  existsSync,
  fstatSync,
  ftruncateSync,
  openSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { DdpError } from '../errors';

/** ENOSPC (the file system is full) or EDQUOT (this user's quota is). */
export function isDiskFull(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** The next step after a full disk, the same wherever it happened. */
export const DISK_FULL_HINT =
  'free space on that file system (df -h shows it), then continue with `tfjs-ddp train --resume RUN_DIR`: every line already in metrics.jsonl is whole and the last checkpoint is intact';

/** E_DISK_FULL naming `path` and what was being written, for an error that isDiskFull. */
export function diskFullError(e: unknown, path: string, what: string): DdpError {
  const code = (e as NodeJS.ErrnoException).code ?? 'ENOSPC';
  return new DdpError('E_DISK_FULL', `no space left to write ${what} ${path} (${code})`, DISK_FULL_HINT, {
    cause: e,
  });
}

/**
 * Appends `text` (whole lines) to `path` with one synchronous write loop; if any write fails, the
 * file is truncated back to its length before, so no partial line is ever left.
 * @throws DdpError E_DISK_FULL naming `path` when the disk is full; other errors as they are
 */
export function appendWhole(path: string, text: string, what = 'to'): void {
  const data = Buffer.from(text);
  const fd = openSync(path, 'a');
  try {
    const before = fstatSync(fd).size;
    try {
      for (let off = 0; off < data.byteLength;) off += writeSync(fd, data, off, data.byteLength - off);
    } catch (e) {
      try {
        ftruncateSync(fd, before);
      } catch {
        // nothing more can be done: the error below says what happened
      }
      throw isDiskFull(e) ? diskFullError(e, path, what) : e;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes `text` to `path` through a temporary sibling and a rename, so a full disk leaves the old
 * file (or none), never a truncated one.
 * @throws DdpError E_DISK_FULL naming `path` when the disk is full; other errors as they are
 */
export function writeWhole(path: string, text: string, tmp: string): void {
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw isDiskFull(e) ? diskFullError(e, path, 'the document') : e;
  }
}

/**
 * Space set aside in a run directory (a file of RESERVE_BYTES) while the run goes on, given back at
 * the first full-disk error so that the failed run can still write its summary and last log lines.
 */
export class DiskReserve {
  /** 64 KiB: summary.json (about 2 KB) and the log lines of a failure, with room to spare. */
  static readonly BYTES = 64 * 1024;
  private held = false;

  constructor(readonly path: string) {}

  /** Creates the reserve file if this process holds none yet; a disk already too full for it is left as it is. */
  hold(): void {
    if (this.held) return;
    this.held = true;
    try {
      if (!existsSync(this.path)) writeFileSync(this.path, Buffer.alloc(DiskReserve.BYTES));
    } catch {
      rmSync(this.path, { force: true });
    }
  }

  /** Gives the space back (the run failed for want of space, or it is over); true when there was some. */
  release(): boolean {
    const had = existsSync(this.path);
    rmSync(this.path, { force: true });
    return had;
  }
}
