// Checkpoints and `train --resume` through the real binary: a stopped run goes on in place with the
// per-step losses and weights of a run that was never stopped, bit for bit on wasm, also from the
// middle of an epoch; a damaged newest checkpoint is skipped by name; a resume that would change the
// maths is refused; a resume on another number of workers keeps the global batch. Every run trains
// with Adam (fixtures/densenet-adam: a DenseNet of the seed's shape, on the seed's data), so a
// checkpoint holds optimizer slots (m and v, the iteration count, the running β powers) that the
// resume must put back.
import { existsSync, readdirSync, readFileSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { fileModelLoader, selectBackend, trainableParamCount } from '@tfjs-ddp/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { readJson, readJsonLines, repoRoot, runCli, startCli, tmp } from './support/spawn-cli';

// Tests here act on a run after one of its step lines: its runs take the wasm kernels' steps, for
// which they were written (with the native kernels a short run can end before the test acts).
process.env['TFJS_DDP_CPU_KERNELS'] = 'wasm';

let data: string;
// 64 samples, global batch 16: 4 steps an epoch, so step 3 is the middle of epoch 1.
const common = () => ['--model', join(repoRoot, 'test/fixtures/densenet-adam/model.mjs'), '--data-dir', data, '--verify-data', 'false', '--resize', '32', '--backend', 'wasm', '--batch-size', '16', '--micro-batch', '8', '--epochs', '2'];
const steps = (runDir: string) => readJsonLines(join(runDir, 'metrics.jsonl')).filter((m) => m['event'] === 'step');
const losses = (runDir: string) => steps(runDir).map((m) => m['loss'] as number);
const checkpoints = (runDir: string) => readdirSync(join(runDir, 'checkpoints')).filter((n) => n.startsWith('step-')).sort();

let reference: string;

beforeAll(async () => {
  data = tmp('resume-data');
  await writeSyntheticFashionMnist(data, { train: 64, test: 16, seed: 7 });
  // The run that is never stopped: 6 steps on 2 workers.
  reference = join(tmp('ref'), 'r');
  const r = await runCli(['train', ...common(), '--workers', '2', '--max-steps', '6', '--run-dir', reference]);
  expect(r.code, r.stderr).toBe(0);
}, 120_000);

describe('train --resume', () => {
  it('continues from the middle of an epoch with the same losses and weights, bit for bit', async () => {
    const runDir = join(tmp('mid'), 'r');
    const first = await runCli(['train', ...common(), '--workers', '2', '--max-steps', '3', '--run-dir', runDir]);
    expect(first.code, first.stderr).toBe(0);
    expect(checkpoints(runDir)).toEqual(['step-00000003']);
    expect(readJson(join(runDir, 'checkpoints', 'step-00000003', 'manifest.json'))).toMatchObject({ step: 3, epoch: 1, batch_in_epoch: 3 });
    const second = await runCli(['train', '--resume', runDir, '--max-steps', '6']);
    expect(second.code, second.stderr).toBe(0);
    // metrics.jsonl appended: each step once, losses equal to the uninterrupted run's to the bit.
    expect(steps(runDir).map((m) => m['step'])).toEqual([1, 2, 3, 4, 5, 6]);
    expect(losses(runDir)).toEqual(losses(reference));
    const events = readJsonLines(join(runDir, 'metrics.jsonl'));
    expect(events.filter((m) => m['event'] === 'resume')).toEqual([expect.objectContaining({ step: 3, epoch: 1, batch_in_epoch: 3, workers: 2, previous_workers: 2 })]);
    const [a, b] = [readJson(join(reference, 'summary.json')), readJson(join(runDir, 'summary.json'))];
    expect(b).toMatchObject({ status: 'completed', steps: 6, workers: 2 });
    expect(b['weights_checksum_per_rank']).toEqual(a['weights_checksum_per_rank']);
    expect(b['train_loss']).toBe(a['train_loss']);
    expect(b['test_acc']).toBe(a['test_acc']);
    // The model part of a checkpoint is a stock layers model.
    await selectBackend('wasm');
    const model = await tfl.loadLayersModel(fileModelLoader(join(runDir, 'checkpoints', checkpoints(runDir).at(-1)!)));
    expect(trainableParamCount(model)).toBe(758_226);
    expect((model.predict(tf.zeros([1, 32, 32, 1])) as tf.Tensor).shape).toEqual([1, 10]);
  });

  it('checkpoints on SIGINT, and the resumed run matches the uninterrupted one wherever it stopped', async () => {
    const runDir = join(tmp('sigint'), 'r');
    const run = startCli(['train', ...common(), '--workers', '2', '--max-steps', '6', '--run-dir', runDir]);
    await run.waitForLine(/"type":"step".*"step":2,/);
    run.child.kill('SIGINT');
    const stopped = await run.exit;
    expect(stopped.code).toBe(130);
    expect(stopped.stderr).toContain(`continue with 'tfjs-ddp train --resume ${runDir}'`);
    const at = steps(runDir).length;
    expect(checkpoints(runDir).at(-1)).toBe(`step-${String(at).padStart(8, '0')}`);
    const resumed = await runCli(['train', '--resume', runDir]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(losses(runDir)).toEqual(losses(reference));
  });

  it('skips a damaged newest checkpoint, naming the file, and resumes from the one before', async () => {
    const runDir = join(tmp('damaged'), 'r');
    const first = await runCli(['train', ...common(), '--workers', '1', '--max-steps', '5', '--checkpoint-every', '1', '--keep-checkpoints', '4', '--run-dir', runDir]);
    expect(first.code, first.stderr).toBe(0);
    expect(checkpoints(runDir)).toEqual(['step-00000002', 'step-00000003', 'step-00000004', 'step-00000005']);
    const dir = (s: number) => join(runDir, 'checkpoints', `step-0000000${s}`);
    writeFileSync(join(dir(5), 'state.bin'), 'not the weights'); // altered
    truncateSync(join(dir(4), 'weights.bin'), 100); // truncated
    unlinkSync(join(dir(3), 'manifest.json')); // never finished
    const r = await runCli(['train', '--resume', runDir, '--max-steps', '6']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/skipping checkpoint .*step-00000005: E_CHECKPOINT: .*step-00000005\/state\.bin has 15 bytes/);
    expect(r.stderr).toMatch(/skipping checkpoint .*step-00000004: E_CHECKPOINT: .*step-00000004\/weights\.bin has 100 bytes, the manifest says \d+ \(truncated\?\)/);
    expect(r.stderr).toMatch(/skipping checkpoint .*step-00000003: E_CHECKPOINT: .*manifest\.json is missing/);
    expect(readJsonLines(join(runDir, 'metrics.jsonl')).find((m) => m['event'] === 'resume')).toMatchObject({ step: 2 });
    // Steps 3–5 were done again from step 2's state; the last six losses are the reference's.
    expect(losses(runDir).slice(-4)).toEqual(losses(reference).slice(2, 6));
  });

  it('refuses a resume that would change the maths, listing what differs', async () => {
    const runDir = join(tmp('refuse'), 'r');
    expect((await runCli(['train', ...common(), '--workers', '1', '--max-steps', '1', '--run-dir', runDir])).code).toBe(0);
    const r = await runCli(['train', '--resume', runDir, '--lr', '0.05', '--seed', '3']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/E_CONFIG: --resume .*: lr 0\.1 → 0\.05, seed 0 → 3 would change the maths of the run/);
    const none = await runCli(['train', '--resume', tmp('empty')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/E_CONFIG: .*config\.json/);
  });

  it('resumes on another number of workers with the same global batch', async () => {
    const runDir = join(tmp('rescale'), 'r');
    expect((await runCli(['train', ...common(), '--workers', '2', '--max-steps', '2', '--run-dir', runDir])).code).toBe(0);
    const r = await runCli(['train', '--resume', runDir, '--workers', '1', '--max-steps', '4']);
    expect(r.code, r.stderr).toBe(0);
    expect(readJson(join(runDir, 'summary.json'))).toMatchObject({ status: 'completed', workers: 1, steps: 4, global_batch: 16 });
    expect(steps(runDir).map((m) => m['samples'])).toEqual([16, 16, 16, 16]);
    expect(existsSync(join(runDir, 'model', 'model.json'))).toBe(true);
  });
});

describe('a coordinator killed while it writes a checkpoint', () => {
  it('leaves the previous checkpoint whole, no worker behind, and the resumed run equals the uninterrupted one', async () => {
    const runDir = join(tmp('killed'), 'r');
    const r = await runCli(['train', ...common(), '--workers', '2', '--max-steps', '6', '--checkpoint-every', '2', '--run-dir', runDir], { TFJS_DDP_INJECT_CHECKPOINT_KILL: '4' });
    expect(r.signal).toBe('SIGKILL');
    // Step 4's checkpoint was being written: a temporary directory, no step-00000004.
    const names = readdirSync(join(runDir, 'checkpoints'));
    expect(names.filter((n) => n.startsWith('step-'))).toEqual(['step-00000002']);
    expect(names.some((n) => n.startsWith('.tmp-step-00000004'))).toBe(true);
    // The workers saw their coordinator go (ipc disconnect) and exited.
    const pids = (readJsonLines(join(runDir, 'train.log')).find((l) => l['msg'] === 'workers launched')!['pids'] as number[]);
    const gone = async () => {
      for (let t = 0; t < 100; t++) {
        if (pids.every((p) => !isRunning(p))) return true;
        await new Promise((res) => setTimeout(res, 100));
      }
      return false;
    };
    expect(await gone()).toBe(true);
    const resumed = await runCli(['train', '--resume', runDir]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(readJsonLines(join(runDir, 'metrics.jsonl')).find((m) => m['event'] === 'resume')).toMatchObject({ step: 2 });
    expect(readdirSync(join(runDir, 'checkpoints')).some((n) => n.startsWith('.tmp-'))).toBe(false);
    // Steps 3 and 4 ran twice (once before the kill); the run's last four losses are the reference's.
    expect(losses(runDir).slice(-4)).toEqual(losses(reference).slice(2, 6));
  });
});

function isRunning(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}
