// A full disk, as /dev/full gives it (every write fails with ENOSPC): E_DISK_FULL naming the path,
// never a raw ENOSPC, and the old content of a document left as it was. The whole-line guarantee on
// a real full file system is checked on a small tmpfs (root only).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendWhole, DiskReserve, isDiskFull, writeWhole } from './disk-full';

const full = existsSync('/dev/full');

describe.runIf(full)('writes on a full disk (/dev/full)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tfjs-ddp-full-'));

  it('reports an append that does not fit as E_DISK_FULL naming the file, with the next step', () => {
    const path = join(dir, 'metrics.jsonl');
    symlinkSync('/dev/full', path);
    expect(() => appendWhole(path, '{"step":1}\n')).toThrow(
      new RegExp(
        `^E_DISK_FULL: no space left to write to ${path} \\(ENOSPC\\); free space on that file system .*tfjs-ddp train --resume RUN_DIR`,
      ),
    );
  });

  it('leaves a document as it was when its new content does not fit', () => {
    const path = join(dir, 'summary.json');
    writeFileSync(path, '{"old":true}\n');
    symlinkSync('/dev/full', join(dir, '.summary.json.tmp'));
    expect(() => writeWhole(path, '{"new":true}\n', join(dir, '.summary.json.tmp'))).toThrow(
      /^E_DISK_FULL: no space left to write the document .*summary\.json \(ENOSPC\)/,
    );
    expect(readFileSync(path, 'utf8')).toBe('{"old":true}\n');
  });
});

describe('the disk reserve', () => {
  it('holds 64 KiB once, and gives it back', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'tfjs-ddp-reserve-')), '.disk-reserve');
    const r = new DiskReserve(path);
    r.hold();
    expect(statSync(path).size).toBe(64 * 1024);
    expect(r.release()).toBe(true);
    expect(existsSync(path)).toBe(false);
    r.hold(); // once per process: a run that gave its reserve back does not take it again
    expect(existsSync(path)).toBe(false);
    expect(r.release()).toBe(false);
    expect(isDiskFull(Object.assign(new Error('x'), { code: 'EDQUOT' }))).toBe(true);
    expect(isDiskFull(Object.assign(new Error('x'), { code: 'EACCES' }))).toBe(false);
  });
});

// A real full disk: a 64 KiB tmpfs (root only, as in CI).
const canMount = (() => {
  if (process.getuid?.() !== 0) return false;
  const probe = mkdtempSync(join(tmpdir(), 'tfjs-ddp-mount-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.runIf(canMount)('appending on a tmpfs that fills up', () => {
  it('leaves only whole lines: the append that does not fit is truncated back', () => {
    const mnt = mkdtempSync(join(tmpdir(), 'tfjs-ddp-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]);
    try {
      const path = join(mnt, 'metrics.jsonl');
      const line = `${JSON.stringify({ event: 'step', pad: 'x'.repeat(3000) })}\n`;
      let written = 0;
      let error: unknown = null;
      while (error === null) {
        try {
          appendWhole(path, line);
          written++;
        } catch (e) {
          error = e;
        }
      }
      expect(String(error)).toMatch(
        /^DdpError: E_DISK_FULL: no space left to write to .*metrics\.jsonl \(ENOSPC\)/,
      );
      expect(written).toBeGreaterThan(5);
      const text = readFileSync(path, 'utf8');
      expect(text.length).toBe(written * line.length);
      for (const l of text.split('\n').slice(0, -1)) expect(JSON.parse(l)).toMatchObject({ event: 'step' });
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});
