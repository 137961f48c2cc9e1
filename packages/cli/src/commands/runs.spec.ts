import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configToFile, DEFAULT_TRAIN_CONFIG } from '@tfjs-ddp/core';
import { run } from '../test-io';
import type { RunRow } from './runs';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'tfjs-ddp-runs-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const TEN_MIN_AGO = new Date(Date.now() - 10 * 60_000);

/** Writes a run directory by hand: files of name → content (objects as JSON, arrays as JSON lines). */
function runDir(name: string, files: Record<string, unknown>, mtime?: Date): string {
  const dir = join(root, name);
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    const text = Array.isArray(content) ? content.map((l) => JSON.stringify(l)).join('\n') + '\n' : typeof content === 'string' ? content : JSON.stringify(content);
    writeFileSync(join(dir, file), text);
    if (mtime !== undefined) utimesSync(join(dir, file), mtime, mtime);
  }
  return dir;
}

/** config.json as a run writes it (backend auto, workers null, epochs 10). */
const config = configToFile(DEFAULT_TRAIN_CONFIG);
const summary = (status: string, more: Record<string, unknown> = {}) => ({ status, backend: 'wasm', device: 'cpu', workers: 2, steps: 120, test_acc: 0.8794, wall_s: 540.25, ...more });
const manifest = { files: [] };
/** metrics.jsonl of a 2-worker wasm run that got to step 3 of epoch 1, with an evaluation after epoch 0. */
const metrics = (start: string) => [
  { time: start, event: 'start', epochs: 10, workers: [{ rank: 0, backend: 'wasm' }, { rank: 1, backend: 'wasm' }] },
  { time: '2026-11-25T19:30:14.000Z', event: 'step', epoch: 0, step: 1, loss: 2.3 },
  { time: '2026-11-25T19:30:16.000Z', event: 'step', epoch: 0, step: 2, loss: 2.1 },
  { time: '2026-11-25T19:30:20.000Z', event: 'epoch', epoch: 0, test_acc: 0.61 },
  { time: '2026-11-25T19:30:22.500Z', event: 'step', epoch: 1, step: 3, loss: 1.9 },
];
const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
const logLine = (pid: number) => `${JSON.stringify({ level: 30, time: 1, role: 'coordinator', rank: null, pid, msg: 'checkpoint written' })}\n`;

async function rows(dir = root): Promise<RunRow[]> {
  const r = await run(['runs', dir, '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as RunRow[];
}

describe('tfjs-ddp runs', () => {
  it('lists finished runs oldest first with the figures of their summary.json and their newest checkpoint', async () => {
    runDir('20261125-193012', {
      'config.json': config,
      'summary.json': summary('completed', { steps: 2350, test_acc: 0.9123, wall_s: 3723.4, workers: 4 }),
      'checkpoints/step-00002300/manifest.json': manifest,
      'checkpoints/step-00002350/manifest.json': manifest,
      // Not checkpoints: no manifest (never committed), and a writer's temporary directory.
      'checkpoints/step-00002400/state.bin': 'x',
      'checkpoints/.tmp-step-00002450-77/manifest.json': manifest,
    });
    runDir('20261126-080000', { 'config.json': config, 'summary.json': summary('interrupted', { steps: 70 }), 'checkpoints/step-00000070/manifest.json': manifest });
    runDir('20261126-090000', { 'config.json': config, 'summary.json': summary('failed', { steps: 0, test_acc: null, wall_s: 0, workers: 0, backend: 'webgpu' }) });
    mkdirSync(join(root, 'notes')); // no run files: not a run
    writeFileSync(join(root, 'README'), 'not a directory');

    expect(await rows()).toEqual([
      { name: '20261125-193012', path: join(root, '20261125-193012'), status: 'completed', steps: 2350, test_acc: 0.9123, wall_s: 3723.4, workers: 4, backend: 'wasm', checkpoint_step: 2350 },
      { name: '20261126-080000', path: join(root, '20261126-080000'), status: 'interrupted', steps: 70, test_acc: 0.8794, wall_s: 540.25, workers: 2, backend: 'wasm', checkpoint_step: 70 },
      { name: '20261126-090000', path: join(root, '20261126-090000'), status: 'failed', steps: 0, test_acc: null, wall_s: 0, workers: 0, backend: 'webgpu', checkpoint_step: null },
    ]);
  });

  it('calls a run without summary.json killed when its pid is gone and its files are older than a minute, with its progress from metrics.jsonl', async () => {
    runDir('killed', { 'config.json': config, 'metrics.jsonl': metrics('2026-11-25T19:30:12.000Z'), 'train.log': logLine(deadPid), 'checkpoints/step-00000002/manifest.json': manifest }, TEN_MIN_AGO);
    expect(await rows()).toEqual([
      { name: 'killed', path: join(root, 'killed'), status: 'killed', steps: 3, test_acc: 0.61, wall_s: 10.5, workers: 2, backend: 'wasm', checkpoint_step: 2 },
    ]);
  });

  it("calls a run without summary.json running while the coordinator's pid in train.log is alive, however old its files", async () => {
    runDir('alive', { 'config.json': config, 'metrics.jsonl': metrics('2026-11-25T19:30:12.000Z'), 'train.log': logLine(process.pid) }, TEN_MIN_AGO);
    expect((await rows())[0]).toMatchObject({ status: 'running', steps: 3 });
  });

  it('calls a run without train.log running while its files changed in the last minute, with config.json figures before the first step', async () => {
    runDir('starting', { 'config.json': { ...config, workers: 3, backend: 'cpu' } });
    expect(await rows()).toEqual([
      { name: 'starting', path: join(root, 'starting'), status: 'running', steps: null, test_acc: null, wall_s: null, workers: 3, backend: 'cpu', checkpoint_step: null },
    ]);
  });

  it('takes a summary.json older than config.json as that of an earlier attempt: the run was resumed since', async () => {
    const dir = runDir('resumed', { 'summary.json': summary('interrupted'), 'metrics.jsonl': metrics('2026-11-25T19:30:12.000Z'), 'train.log': logLine(deadPid) }, TEN_MIN_AGO);
    const older = new Date(TEN_MIN_AGO.getTime() - 60_000);
    utimesSync(join(dir, 'summary.json'), older, older);
    runDir('resumed', { 'config.json': config }, TEN_MIN_AGO);
    expect((await rows())[0]).toMatchObject({ status: 'killed', steps: 3 });
  });

  it('lists one run when DIR is a run directory, and says unreadable for a summary.json that is not JSON', async () => {
    const dir = runDir('20261125-193012', { 'config.json': config, 'summary.json': '{"status": "compl' }, TEN_MIN_AGO);
    expect(await rows(dir)).toEqual([
      { name: '20261125-193012', path: dir, status: 'unreadable', steps: null, test_acc: null, wall_s: null, workers: null, backend: null, checkpoint_step: null },
    ]);
  });

  it('prints a header and one aligned line per run, numbers right-aligned and - where a figure is unknown', async () => {
    runDir('20261125-193012', { 'config.json': config, 'summary.json': summary('completed', { steps: 2350, test_acc: 0.9123, wall_s: 3723.4, workers: 4 }), 'checkpoints/step-00002350/manifest.json': manifest });
    runDir('20261126-090000', { 'config.json': config, 'summary.json': summary('failed', { steps: 0, test_acc: null, wall_s: 0, workers: 0, backend: 'webgpu' }) });
    const r = await run(['runs', root]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        'RUN              STATUS     STEPS  TEST_ACC  WALL_S  WORKERS  BACKEND  CHECKPOINT',
        '20261125-193012  completed   2350    0.9123  3723.4        4  wasm           2350',
        '20261126-090000  failed         0         -     0.0        0  webgpu            -',
        '',
      ].join('\n'),
    );
  });

  it("does not list a folder whose config.json is someone else's (a web project), however new its files", async () => {
    runDir('proj2', { 'config.json': { name: 'my webapp' }, 'report.html': 'mine' });
    runDir('settings', { 'config.json': { lr: 0.05, batch_size: 64 } }, TEN_MIN_AGO);
    runDir('20261126-090000', { 'config.json': config, 'summary.json': summary('failed', { steps: 0 }) });
    expect((await rows()).map((r) => r.name)).toEqual(['20261126-090000']);
    expect(await rows(join(root, 'proj2'))).toEqual([]);
  });

  it('says on stderr that a directory holds no runs, and prints [] with --json', async () => {
    const text = await run(['runs', root]);
    expect(text).toEqual({ code: 0, stdout: '', stderr: `tfjs-ddp: no runs in ${root}\n` });
    expect(await rows()).toEqual([]);
  });

  it('fails with E_CONFIG and exit code 2 naming a DIR that does not exist or is a file', async () => {
    const missing = await run(['runs', join(root, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(new RegExp(`^tfjs-ddp: E_CONFIG: runs directory ${join(root, 'nope')} does not exist; pass the directory that holds the runs`));
    writeFileSync(join(root, 'file'), '');
    const file = await run(['runs', join(root, 'file')]);
    expect(file.code).toBe(2);
    expect(file.stderr).toContain(`E_CONFIG: ${join(root, 'file')} is not a directory`);
  });

  it('takes DIR as its one positional argument: a second one or --dir is a usage error, and help shows it', async () => {
    const two = await run(['runs', root, 'more']);
    expect(two.code).toBe(2);
    expect(two.stderr).toContain("E_USAGE: unexpected argument 'more' for 'tfjs-ddp runs'");
    const flag = await run(['runs', '--dir', root]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("E_USAGE: unknown option '--dir' for 'tfjs-ddp runs'");
    const help = await run(['runs', '--help']);
    expect(help.stdout).toContain('Usage: tfjs-ddp runs [DIR] [options]');
    expect(help.stdout).toMatch(/^Arguments:\n {2}DIR +directory holding run directories, or one run directory \(default runs\)$/m);
    expect(help.stdout).not.toContain('--dir');
  });
});
