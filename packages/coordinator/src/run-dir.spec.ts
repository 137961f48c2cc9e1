import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configToFile, DEFAULT_TRAIN_CONFIG } from '@tfjs-ddp/core';
import { RunDir, defaultRunDir, makeDefaultRunDir } from './run-dir';

const tmp = () => mkdtempSync(join(tmpdir(), 'tfjs-ddp-run-'));

/** A run directory as a run leaves it: config.json, and a committed checkpoint unless `checkpoint` is false. */
function pastRun(checkpoint = true): string {
  const path = join(tmp(), 'r');
  const first = new RunDir(path);
  first.writeJson('config.json', configToFile(DEFAULT_TRAIN_CONFIG));
  first.writeJson('summary.json', {
    status: checkpoint ? 'interrupted' : 'failed',
    steps: checkpoint ? 1 : 0,
  });
  if (checkpoint) {
    mkdirSync(join(path, 'checkpoints', 'step-00000001'), { recursive: true });
    writeFileSync(join(path, 'checkpoints', 'step-00000001', 'manifest.json'), '{"files":[]}');
  }
  first.close();
  return path;
}

/** A directory with a user's file in model/, as a user might leave one. */
function withUserFile(): { path: string; file: string; bytes: Buffer } {
  const path = join(tmp(), 'r');
  mkdirSync(join(path, 'model'), { recursive: true });
  const bytes = Buffer.from([0, 1, 2, 3, 255, 254]);
  writeFileSync(join(path, 'model', 'mine.bin'), bytes);
  return { path, file: join(path, 'model', 'mine.bin'), bytes };
}

describe('RunDir', () => {
  it('names default run directories after the UTC time', () => {
    expect(defaultRunDir('runs', new Date('2026-11-25T19:30:12.345Z'))).toBe(join('runs', '20261125-193012'));
  });

  it('creates a distinct default run directory for each of two runs started in the same second', () => {
    const base = join(tmp(), 'runs');
    const now = new Date('2026-11-25T19:30:12.345Z');
    const a = makeDefaultRunDir(base, now);
    const b = makeDefaultRunDir(base, now);
    const c = makeDefaultRunDir(base, now);
    expect([a, b, c]).toEqual([
      join(base, '20261125-193012'),
      join(base, '20261125-193012-2'),
      join(base, '20261125-193012-3'),
    ]);
    expect(readdirSync(base).sort()).toEqual(['20261125-193012', '20261125-193012-2', '20261125-193012-3']);
  });

  it('appends metrics as one JSON object per line and writes JSON files atomically', () => {
    const dir = new RunDir(join(tmp(), 'r'));
    dir.metric({ event: 'step', step: 1, loss: 2.3 });
    dir.metric({ event: 'epoch', epoch: 1 });
    const lines = readFileSync(dir.file('metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l['event'])).toEqual(['step', 'epoch']);
    expect(typeof lines[0]!['time']).toBe('string');
    dir.writeJson('config.json', { lr: 0.1 });
    expect(JSON.parse(readFileSync(dir.file('config.json'), 'utf8'))).toEqual({ lr: 0.1 });
    expect(readdirSync(dir.path).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    dir.close();
  });

  it('uses an empty existing directory', () => {
    const path = tmp();
    new RunDir(path).close();
    expect(readdirSync(path)).toEqual([]);
  });

  it('refuses a directory that holds anything, naming what is there and the choices, and leaves it byte for byte', () => {
    const { path, file, bytes } = withUserFile();
    const err = (() => {
      try {
        new RunDir(path);
      } catch (e) {
        return e as Error & { code?: string; hint?: string };
      }
      return null;
    })();
    expect(err).toMatchObject({ code: 'E_CONFIG' });
    expect(err!.message).toMatch(/run directory .*\/r is not empty \(model\); nothing in it is overwritten/);
    expect(String(err)).toMatch(/another --run-dir/);
    expect(String(err)).toMatch(/--overwrite to move its content to r\.old-<time>/);
    expect(readFileSync(file)).toEqual(bytes);
    expect(readdirSync(path)).toEqual(['model']); // no lock, nothing written
  });

  it('refuses a directory that holds a run with a checkpoint, pointing at --resume', () => {
    const path = pastRun();
    expect(() => new RunDir(path)).toThrow(
      `E_CONFIG: run directory ${path} is not empty (checkpoints, config.json, summary.json): it holds a run; nothing in it is overwritten; continue that run with --resume ${path}, pass another --run-dir`,
    );
  });

  it('refuses a directory that holds a run without a checkpoint, pointing at --overwrite, not --resume', () => {
    const path = pastRun(false);
    const err = (() => {
      try {
        new RunDir(path);
      } catch (e) {
        return String(e);
      }
      return '';
    })();
    expect(err).toContain(
      `E_CONFIG: run directory ${path} is not empty (config.json, summary.json): it holds a run that stopped before its first checkpoint, so there is nothing to --resume; nothing in it is overwritten`,
    );
    expect(err).toMatch(
      /pass another --run-dir .*, or add --overwrite to move its content to r\.old-<time> beside it/,
    );
    expect(err).not.toContain('--resume /');
  });

  it("does not call a directory with someone else's config.json a run", () => {
    const path = join(tmp(), 'web');
    mkdirSync(path);
    writeFileSync(join(path, 'config.json'), '{"name":"my webapp"}');
    expect(() => new RunDir(path)).toThrow(
      new RegExp(
        `E_CONFIG: run directory ${path} is not empty \\(config\\.json\\); nothing in it is overwritten; pass another`,
      ),
    );
  });

  it('names the path, the reason and what to do when the directory cannot be created', () => {
    const parent = tmp();
    writeFileSync(join(parent, 'afile.txt'), '');
    const under = join(parent, 'afile.txt', 'sub');
    expect(() => new RunDir(under)).toThrow(
      `E_CONFIG: cannot create run directory ${under}: ${join(parent, 'afile.txt')} is a file, not a directory (EEXIST); pass a --run-dir whose parents are directories`,
    );
    expect(() => new RunDir(join(under, 'deeper'))).toThrow(
      /is a file, not a directory \((EEXIST|ENOTDIR)\)/,
    );
    expect(() => makeDefaultRunDir(join(parent, 'afile.txt'))).toThrow(
      /E_CONFIG: cannot create run directory .*afile\.txt\/\d{8}-\d{6}: .*afile\.txt is a file/,
    );
  });

  it.runIf(process.platform === 'linux')(
    'gives the OS reason for a directory the file system refuses (/proc)',
    () => {
      expect(() => new RunDir('/proc/tfjs-ddp-run')).toThrow(
        'E_CONFIG: cannot create run directory /proc/tfjs-ddp-run: no such file or directory (ENOENT); pass a --run-dir in a directory you can write to',
      );
    },
  );

  it('with overwrite moves the old content aside whole, deletes nothing, and says where', () => {
    const { path, bytes } = withUserFile();
    const dir = new RunDir(path, { overwrite: true });
    const aside = readdirSync(join(path, '..')).filter((n) => n.startsWith('r.old-'));
    expect(aside).toHaveLength(1);
    expect(aside[0]).toMatch(/^r\.old-\d{8}-\d{6}$/);
    expect(readFileSync(join(path, '..', aside[0]!, 'model', 'mine.bin'))).toEqual(bytes);
    expect(readdirSync(path)).toEqual(['.lock']);
    expect(dir.notes).toEqual([
      `--overwrite: moved what ${path} held to ${join(path, '..', aside[0]!)} (nothing deleted)`,
    ]);
    dir.close();
  });

  it('refuses to resume a directory that holds no run', () => {
    expect(() => new RunDir(tmp(), { resume: true })).toThrow(
      /E_CONFIG: --resume .* is not a run directory: it has no config\.json/,
    );
  });

  it('remembers the step a resumed run goes on from', () => {
    const path = join(tmp(), 'r');
    const first = new RunDir(path);
    expect(first.resumed).toBeNull();
    first.writeJson('config.json', configToFile(DEFAULT_TRAIN_CONFIG));
    first.close();
    const again = new RunDir(path, { resume: true, resumeStep: 4 });
    expect(again.resumed).toEqual({ step: 4 });
    again.close();
  });
});
