import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SOCKET_DIR_OWNER, makeSocketDir, removeSocketDirOwnedBy, sweepStaleSocketDirs } from './socket-dir';

const parents: string[] = [];
afterEach(() => parents.splice(0).forEach((p) => rmSync(p, { recursive: true, force: true })));
const parent = (): string => {
  const p = mkdtempSync(join(tmpdir(), 'socket-dir-spec-'));
  parents.push(p);
  return p;
};

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  });
  return Number(r.stdout);
}

describe('socket directories', () => {
  it('are marked with the owner pid', () => {
    const dir = makeSocketDir(parent(), 'tfjs-ddp-');
    expect(readFileSync(join(dir, SOCKET_DIR_OWNER), 'utf8')).toBe(String(process.pid));
  });

  it('are swept when their owner has exited, kept while it lives, and unmarked ones are left alone', () => {
    const p = parent();
    const mine = makeSocketDir(p, 'tfjs-ddp-');
    const orphan = makeSocketDir(p, 'tfjs-ddp-');
    writeFileSync(join(orphan, SOCKET_DIR_OWNER), String(deadPid()));
    writeFileSync(join(orphan, 'control'), '');
    const unmarked = join(p, 'tfjs-ddp-other');
    mkdirSync(unmarked);
    const garbled = makeSocketDir(p, 'tfjs-ddp-');
    writeFileSync(join(garbled, SOCKET_DIR_OWNER), 'not a pid');
    const otherPrefix = makeSocketDir(p, 'bench-');
    writeFileSync(join(otherPrefix, SOCKET_DIR_OWNER), String(deadPid()));

    expect(sweepStaleSocketDirs(p, 'tfjs-ddp-')).toEqual([orphan]);
    expect([mine, unmarked, garbled, otherPrefix].map((d) => existsSync(d))).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(existsSync(orphan)).toBe(false);
  });

  it('returns nothing for a parent that does not exist', () => {
    expect(sweepStaleSocketDirs(join(tmpdir(), 'no-such-dir-tfjs-ddp'), 'tfjs-ddp-')).toEqual([]);
  });

  it('are removed by a worker only when the marker names the given owner, by every racer without a throw', () => {
    const p = parent();
    const owned = makeSocketDir(p, 'tfjs-ddp-');
    writeFileSync(join(owned, 'control'), '');
    mkdirSync(join(owned, 'sub'));
    const others = makeSocketDir(p, 'tfjs-ddp-');
    writeFileSync(join(others, SOCKET_DIR_OWNER), String(process.pid + 1));
    const unmarked = join(p, 'tfjs-ddp-other');
    mkdirSync(unmarked);

    expect(removeSocketDirOwnedBy(others, process.pid)).toBe(false);
    expect(removeSocketDirOwnedBy(unmarked, process.pid)).toBe(false);
    expect(removeSocketDirOwnedBy(owned, 0)).toBe(false);
    expect([owned, others, unmarked].map((d) => existsSync(d))).toEqual([true, true, true]);

    // Two workers of the same dead coordinator: the first removes it, the second finds nothing.
    expect(removeSocketDirOwnedBy(owned, process.pid)).toBe(true);
    expect(existsSync(owned)).toBe(false);
    expect(removeSocketDirOwnedBy(owned, process.pid)).toBe(false);
    expect(removeSocketDirOwnedBy(join(p, 'never-made'), process.pid)).toBe(false);
  });
});
