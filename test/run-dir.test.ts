// What a command may do to files it did not create, through the real binary: a run directory that
// holds anything is refused with its files left byte for byte, --overwrite moves them aside whole;
// two resumes of one run at once: one is refused naming the other's pid, and a stale lock is taken
// over; a resume appends to the worker logs (a marker line, every line still JSON) and to the run's
// own timeline, while a new run refuses an existing timeline file.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { beforeAll, describe, expect, it } from 'vitest';
import { readJson, readJsonLines, runCli, startCli, tmp } from './support/spawn-cli';

let data: string;
// 64 samples, global batch 16: the runs here take 1 or 2 steps.
const common = () => [
  '--data-dir',
  data,
  '--verify-data',
  'false',
  '--resize',
  '32',
  '--backend',
  'wasm',
  '--batch-size',
  '16',
  '--micro-batch',
  '8',
  '--epochs',
  '1',
  '--eval-limit',
  '16',
];

beforeAll(async () => {
  data = tmp('rundir-data');
  await writeSyntheticFashionMnist(data, { train: 64, test: 16, seed: 3 });
});

describe('a run directory that holds anything', () => {
  it('is refused, its files left byte for byte; --overwrite moves them aside whole and trains', async () => {
    const parent = tmp('occupied');
    const runDir = join(parent, 'r');
    mkdirSync(join(runDir, 'model'), { recursive: true });
    const mine = Buffer.from('weights the user keeps here\u0000\u00ff');
    writeFileSync(join(runDir, 'model', 'mine.bin'), mine);

    const refused = await runCli([
      'train',
      ...common(),
      '--workers',
      '1',
      '--max-steps',
      '1',
      '--run-dir',
      runDir,
    ]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      `E_CONFIG: run directory ${runDir} is not empty (model); nothing in it is overwritten`,
    );
    expect(refused.stderr).toMatch(
      /pass another --run-dir .*, or add --overwrite to move its content to r\.old-<time> beside it \(nothing is deleted\)/,
    );
    expect(readdirSync(runDir)).toEqual(['model']);
    expect(readFileSync(join(runDir, 'model', 'mine.bin'))).toEqual(mine);

    const moved = await runCli([
      'train',
      ...common(),
      '--workers',
      '1',
      '--max-steps',
      '1',
      '--run-dir',
      runDir,
      '--overwrite',
    ]);
    expect(moved.code, moved.stderr).toBe(0);
    const aside = readdirSync(parent).filter((n) => n !== 'r');
    expect(aside).toEqual([expect.stringMatching(/^r\.old-\d{8}-\d{6}$/)]);
    expect(moved.stderr).toContain(
      `tfjs-ddp: --overwrite: moved what ${runDir} held to ${join(parent, aside[0]!)} (nothing deleted)`,
    );
    expect(readdirSync(join(parent, aside[0]!, 'model'))).toEqual(['mine.bin']);
    expect(readFileSync(join(parent, aside[0]!, 'model', 'mine.bin'))).toEqual(mine);
    expect(readJson(join(runDir, 'summary.json'))).toMatchObject({ status: 'completed', steps: 1 });
    expect(existsSync(join(runDir, '.lock'))).toBe(false); // released at the end
  });
});

describe('train --resume', () => {
  it('runs once at a time (a stale lock is taken over), and appends to the worker logs and its own timeline', async () => {
    const dir = tmp('lock');
    const runDir = join(dir, 'r');
    const timeline = join(dir, 'trace.json');
    const first = await runCli([
      'train',
      ...common(),
      '--workers',
      '2',
      '--max-steps',
      '1',
      '--run-dir',
      runDir,
      '--timeline',
      timeline,
    ]);
    expect(first.code, first.stderr).toBe(0);
    const logsBefore = [0, 1].map((i) => readFileSync(join(runDir, `worker-${i}.log`), 'utf8'));
    const traceBefore = readJson<unknown[]>(timeline);

    // A new run in another directory may not write over that timeline.
    const other = await runCli([
      'train',
      ...common(),
      '--workers',
      '1',
      '--max-steps',
      '1',
      '--run-dir',
      join(dir, 'other'),
      '--timeline',
      timeline,
    ]);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain(
      `E_CONFIG: --timeline ${timeline} exists and holds a timeline this run did not create: it is left as it is`,
    );
    expect(existsSync(join(dir, 'other'))).toBe(false);

    // The first run's process is gone but its lock is left (as a SIGKILL leaves it).
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    writeFileSync(
      join(runDir, '.lock'),
      JSON.stringify({ pid: dead, host: hostname(), started: '2026-01-01T00:00:00.000Z' }),
    );
    const [a, b] = [
      startCli(['train', '--resume', runDir, '--max-steps', '2']),
      startCli(['train', '--resume', runDir, '--max-steps', '2']),
    ];
    const exits = await Promise.all([a.exit, b.exit]);
    const winner = exits.findIndex((e) => e.code === 0);
    expect(exits.map((e) => e.code).sort(), exits.map((e) => e.stderr).join('\n----\n')).toEqual([0, 2]);
    const [won, lost] = [exits[winner]!, exits[1 - winner]!];
    expect(lost.stderr).toContain(
      `E_CONFIG: run directory ${runDir} is in use by pid ${[a, b][winner]!.child.pid} on host ${hostname()}`,
    );
    expect(won.stderr).toContain(
      `tfjs-ddp: took over the stale lock of ${runDir}: pid ${dead} on ${hostname()} (since 2026-01-01T00:00:00.000Z) is not running`,
    );
    expect(
      readJsonLines(join(runDir, 'metrics.jsonl'))
        .filter((m) => m['event'] === 'step')
        .map((m) => m['step']),
    ).toEqual([1, 2]);

    // Each worker log goes on after the first run's lines, with one marker line; every line is JSON.
    for (const i of [0, 1]) {
      const text = readFileSync(join(runDir, `worker-${i}.log`), 'utf8');
      expect(text.startsWith(logsBefore[i]!)).toBe(true);
      const lines = readJsonLines(join(runDir, `worker-${i}.log`));
      const markers = lines.filter((l) => l['msg'] === 'run resumed: the log goes on');
      expect(markers).toEqual([
        expect.objectContaining({ role: 'launcher', rank: i, from_step: 1, resumed_at: expect.any(String) }),
      ]);
      expect(lines.indexOf(markers[0]!)).toBe(logsBefore[i]!.trim().split('\n').length);
    }
    // The run's own timeline: appended to, the first run's events first.
    expect(readJson<unknown[]>(timeline).slice(0, traceBefore.length)).toEqual(traceBefore);
    expect(readJson<unknown[]>(timeline).length).toBeGreaterThan(traceBefore.length);
    expect(existsSync(join(runDir, '.lock'))).toBe(false);
  });
});
