import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configToFile, DEFAULT_TRAIN_CONFIG } from '@tfjs-ddp/core';
import { RunDir } from './run-dir';
import { LOCK_FILE, RunLock, readLock } from './run-lock';

const tmp = () => mkdtempSync(join(tmpdir(), 'tfjs-ddp-lock-'));
/** The pid of a process that has exited (and was reaped): a crashed run's. */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid;

describe('RunLock', () => {
  it('records pid, host and start time, and close() removes it', () => {
    const dir = tmp();
    const lock = RunLock.acquire(dir);
    expect(readLock(dir)).toEqual({
      pid: process.pid,
      host: hostname(),
      started: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(readdirSync(dir)).toEqual([LOCK_FILE]); // the private temporary name is gone
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('says a run directory it cannot write in is a configuration error, not a bug', () => {
    // As root, permissions cannot be taken away: a file in the directory's place fails the same write.
    const file = join(tmp(), 'a-file');
    writeFileSync(file, 'x');
    expect(() => RunLock.acquire(file)).toThrow(
      `E_CONFIG: cannot write in run directory ${file} (ENOTDIR); pass a --run-dir in a directory you can write to`,
    );
  });

  it('refuses a second owner while the first lives, naming its pid and host', () => {
    const dir = tmp();
    const first = RunLock.acquire(dir);
    expect(() => RunLock.acquire(dir)).toThrow(
      expect.objectContaining({
        code: 'E_CONFIG',
        message: expect.stringContaining(`is in use by pid ${process.pid} on host ${hostname()}`),
      }),
    );
    first.release();
    RunLock.acquire(dir).release();
  });

  it('takes over a stale lock (this host, its pid gone) and says so in one line', () => {
    const dir = tmp();
    const pid = deadPid();
    writeFileSync(
      join(dir, LOCK_FILE),
      JSON.stringify({ pid, host: hostname(), started: '2026-01-01T00:00:00.000Z' }),
    );
    const notes: string[] = [];
    const lock = RunLock.acquire(dir, (l) => notes.push(l));
    expect(notes).toEqual([
      `took over the stale lock of ${dir}: pid ${pid} on ${hostname()} (since 2026-01-01T00:00:00.000Z) is not running`,
    ]);
    expect(readLock(dir)).toMatchObject({ pid: process.pid });
    expect(readdirSync(dir)).toEqual([LOCK_FILE]);
    lock.release();
  });

  it('takes over a lock naming this very process that it does not hold (a restarted container reuses pids)', () => {
    const dir = tmp();
    writeFileSync(
      join(dir, LOCK_FILE),
      JSON.stringify({ pid: process.pid, host: hostname(), started: '2026-01-01T00:00:00.000Z' }),
    );
    const notes: string[] = [];
    const lock = RunLock.acquire(dir, (l) => notes.push(l));
    expect(notes).toEqual([expect.stringMatching(/^took over the stale lock of .*: pid \d+ on /)]);
    expect(() => RunLock.acquire(dir)).toThrow(/is in use by pid/); // but one it holds is live
    lock.release();
  });

  it("refuses another host's lock, saying how to remove it if that host is gone", () => {
    const dir = tmp();
    const text = JSON.stringify({
      pid: 1234,
      host: 'other-host.example',
      started: '2026-01-01T00:00:00.000Z',
    });
    writeFileSync(join(dir, LOCK_FILE), text);
    expect(() => RunLock.acquire(dir)).toThrow(
      /E_CONFIG: run directory .* is in use by pid 1234 on host other-host\.example.*if host other-host\.example is gone and no run uses the directory, remove .*\.lock/,
    );
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(text);
  });

  it('refuses a .lock it did not write, and leaves it', () => {
    const dir = tmp();
    writeFileSync(join(dir, LOCK_FILE), 'hello');
    expect(() => RunLock.acquire(dir)).toThrow(/E_CONFIG: .*\.lock exists but is not a tfjs-ddp lock/);
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe('hello');
  });

  it('releases only its own lock', () => {
    const dir = tmp();
    const lock = RunLock.acquire(dir);
    const other = JSON.stringify({
      pid: 1234,
      host: 'other-host.example',
      started: '2026-01-01T00:00:00.000Z',
    });
    writeFileSync(join(dir, LOCK_FILE), other); // someone removed ours and took it
    lock.release();
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(other);
  });
});

describe('RunDir and its lock', () => {
  it('refuses a second run (new or resumed) in a directory a live run holds, also with overwrite', () => {
    const path = join(tmp(), 'r');
    const first = new RunDir(path);
    first.writeJson('config.json', configToFile(DEFAULT_TRAIN_CONFIG));
    expect(() => new RunDir(path, { resume: true })).toThrow(
      /E_CONFIG: run directory .* is in use by pid \d+ on host/,
    );
    expect(() => new RunDir(path, { overwrite: true })).toThrow(/is in use by pid/);
    expect(readdirSync(join(path, '..'))).toEqual(['r']); // nothing moved aside
    first.close();
    new RunDir(path, { resume: true }).close();
  });

  it('resumes a run whose process died (its lock stale)', () => {
    const path = join(tmp(), 'r');
    const first = new RunDir(path);
    first.writeJson('config.json', configToFile(DEFAULT_TRAIN_CONFIG));
    writeFileSync(
      join(path, LOCK_FILE),
      JSON.stringify({ pid: deadPid(), host: hostname(), started: '2026-01-01T00:00:00.000Z' }),
    );
    const again = new RunDir(path, { resume: true });
    expect(again.notes).toEqual([
      expect.stringMatching(/^took over the stale lock of .*: pid \d+ on .* is not running$/),
    ]);
    again.close();
    first.close(); // the lock is no longer first's: it stays released
    expect(existsSync(join(path, LOCK_FILE))).toBe(false);
  });
});
