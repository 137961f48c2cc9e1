import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SOCKET_DIR_OWNER, makeSocketDir, sweepStaleSocketDirs } from './socket-dir';

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
});
