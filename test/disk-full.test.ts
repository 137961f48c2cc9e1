// A disk that fills up during a run: the run directory on a small tmpfs, filled by another file once
// the first checkpoint is written. The run stops with E_DISK_FULL naming the file it could not
// write (exit 1), every line of metrics.jsonl still parses, the checkpoint loads, a summary says it
// failed; after the space is freed, `--resume` finishes the run (that a resume reaches an undisturbed
// run's weights is resume.test.ts's). Needs root for the mount: skipped, saying so, otherwise.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointStore } from '@tfjs-ddp/coordinator';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, runCli, startCli, tmp } from './support/spawn-cli';

const canMount = (() => {
  if (process.getuid?.() !== 0) return false;
  const probe = tmp('mount-probe');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!canMount)
  process.stdout.write(
    'disk-full.test.ts: skipped: mounting a small tmpfs needs root (and a kernel that lets this process mount)\n',
  );

let data: string;
let mnt: string;
const args = (runDir: string) => [
  ...'--verify-data false --resize 32 --backend wasm --workers 1 --batch-size 16 --micro-batch 16 --epochs 1 --max-steps 12 --checkpoint-every 4 --log-level warn'.split(
    ' ',
  ),
  ...['--data-dir', data, '--run-dir', runDir],
];

/** Fills the file system of `dir` to the last byte with one file; returns its path. */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
    // the last partial block
    try {
      for (;;) writeSync(fd, block.subarray(0, 512));
    } catch {
      // full
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

describe.runIf(canMount)('a run directory whose disk fills up', () => {
  beforeAll(async () => {
    data = tmp('data');
    await writeSyntheticFashionMnist(data, { train: 480, test: 32, seed: 6 });
    mnt = tmp('disk-full');
    mkdirSync(mnt, { recursive: true });
    // Room for three checkpoints (6.1 MB each at --resize 32: weights.bin and state.bin of 3.06 MB), the model and the rest.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', mnt]);
  });
  afterAll(() => {
    if (mnt !== undefined) execFileSync('umount', [mnt]);
  });

  it('stops with E_DISK_FULL naming the file, keeps every line and the checkpoint, and resumes once space is freed', async () => {
    const runDir = join(mnt, 'r');
    const run = startCli(['train', ...args(runDir)]);
    // Fill the disk as soon as the first checkpoint is in metrics.jsonl.
    const metrics = join(runDir, 'metrics.jsonl');
    const deadline = Date.now() + 120_000;
    while (!(existsSync(metrics) && readFileSync(metrics, 'utf8').includes('"event":"checkpoint"'))) {
      if (Date.now() > deadline) throw new Error('no checkpoint within 120 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    const filler = fill(mnt);
    const failed = await run.exit;
    process.stdout.write(`disk-full run: ${failed.stderr}`);
    expect(failed.stderr).toMatch(
      /tfjs-ddp: E_DISK_FULL: no space left to write .*\/r\/(metrics\.jsonl|checkpoints)\b.*\(ENOSPC\).*; free space on that file system .*tfjs-ddp train --resume RUN_DIR/,
    );
    expect(failed.stderr).not.toMatch(/unexpected error/);
    expect(failed.code).toBe(1);
    // Every line written parses (a failed append was truncated back), and the checkpoint loads.
    const lines = readFileSync(metrics, 'utf8').split('\n');
    expect(lines.pop()).toBe('');
    const events = lines.map((l) => JSON.parse(l) as { event: string; step?: number });
    const lastCheckpoint = events.filter((e) => e.event === 'checkpoint').at(-1)!;
    const stored = new CheckpointStore(runDir).latest();
    expect(stored?.manifest.step).toBe(lastCheckpoint.step);
    // The reserve the run kept was given back, so the failed run still left its summary.
    expect(readJson(join(runDir, 'summary.json'))).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/^E_DISK_FULL/),
    });
    rmSync(filler);
    const resumed = await runCli(['train', '--resume', runDir]);
    expect(resumed.stderr).toMatch(/done: 12 steps/);
    expect(resumed.code).toBe(0);
    expect(readJson(join(runDir, 'summary.json'))).toMatchObject({ status: 'completed', steps: 12 });
  });
});
