// `tfjs-ddp train` and `tfjs-ddp eval` as a user runs them: the real binary on a small generated
// dataset, checked through its exit code, its JSON output lines and the files of the run directory.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { nonSnakeCaseKeys } from '@tfjs-ddp/core';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { fileModelLoader, selectBackend, trainableParamCount } from '@tfjs-ddp/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { readJson, readJsonLines, runCli, startCli, tmp } from './support/spawn-cli';

// Tests here act on a run after one of its step lines: its runs take the wasm kernels' steps, for
// which they were written (with the native kernels a short run can end before the test acts).
process.env['TFJS_DDP_CPU_KERNELS'] = 'wasm';

let data: string;
const common = () => ['--data-dir', data, '--verify-data', 'false', '--resize', '32', '--backend', 'wasm'];

beforeAll(async () => {
  data = tmp('data');
  await writeSyntheticFashionMnist(data, { train: 192, test: 64, seed: 3 });
});

describe('tfjs-ddp train', () => {
  it('trains, prints one JSON object per line when not on a TTY, and leaves a complete run directory', async () => {
    const runDir = join(tmp('run'), 'r');
    const r = await runCli(['train', ...common(), '--workers', '1', '--batch-size', '32', '--epochs', '2', '--max-steps', '8', '--run-dir', runDir]);
    expect(r.stderr).toMatch(/done: 8 steps, test accuracy [\d.]+; results in /);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string });
    expect(lines[0]!.type).toBe('start');
    expect(lines.filter((l) => l.type === 'step')).toHaveLength(8);
    expect(lines.filter((l) => l.type === 'epoch')).toHaveLength(2); // a full epoch (6 steps) and the partial one

    const config = readJson(join(runDir, 'config.json'));
    expect(config).toMatchObject({ lr: 0.1, batch_size: 32, epochs: 2, resize: 32, backend: 'wasm', run_dir: null });
    const metrics = readJsonLines(join(runDir, 'metrics.jsonl'));
    const steps = metrics.filter((m) => m['event'] === 'step');
    expect(steps).toHaveLength(8);
    expect(steps[0]).toMatchObject({ epoch: 1, step: 1, samples: 32 });
    expect((steps[0]!['timings'] as unknown[]).length).toBe(1);
    const summary = readJson(join(runDir, 'summary.json'));
    expect(summary).toMatchObject({ status: 'completed', backend: 'wasm', workers: 1, trainable_params: 758_226, global_batch: 32, epochs: 2, epochs_completed: 1, steps: 8, restarts: 0, oom_events: 0 });
    for (const k of ['train_loss', 'train_acc', 'test_acc', 'samples_per_s', 'wall_s']) expect(typeof summary[k]).toBe('number');
    const log = readJsonLines(join(runDir, 'train.log'));
    expect(log.map((l) => l['msg'])).toEqual(expect.arrayContaining(['run starts', 'backend selected', 'data loaded', 'training starts', 'epoch done']));
    for (const f of ['model.json', 'weights.bin', 'optimizer.json', 'optimizer.bin', 'meta.json']) expect(existsSync(join(runDir, 'model', f))).toBe(true);
    // Checkpoints at the end of epoch 1 (step 6) and at the stop (step 8), each with its manifest.
    for (const c of ['step-00000006', 'step-00000008']) {
      expect(existsSync(join(runDir, 'checkpoints', c, 'manifest.json'))).toBe(true);
      expect(existsSync(join(runDir, 'checkpoints', c, 'model.json'))).toBe(true);
    }

    // The export is the standard layers format: stock tf.loadLayersModel reads it back.
    await selectBackend('wasm');
    const model = await tfl.loadLayersModel(fileModelLoader(join(runDir, 'model')));
    expect(trainableParamCount(model)).toBe(758_226);
    expect((model.predict(tf.zeros([2, 32, 32, 1])) as tf.Tensor).shape).toEqual([2, 10]);

    // eval reports the accuracy of the saved model on the same test set.
    const ev = await runCli(['eval', '--model', join(runDir, 'model'), '--data-dir', data, '--verify-data', 'false', '--backend', 'wasm', '--json']);
    expect(ev.code).toBe(0);
    const report = JSON.parse(ev.stdout) as { test_acc: number; test_count: number };
    expect(report.test_count).toBe(64);
    expect(report.test_acc).toBeCloseTo(summary['test_acc'] as number, 5);

    // One naming convention for every JSON document the run wrote: snake_case keys at any depth.
    // model.json and optimizer.json are TensorFlow.js's own format (camelCase): not ours to name.
    const documents: Record<string, unknown> = {
      'config.json': config,
      'summary.json': summary,
      'model/meta.json': readJson(join(runDir, 'model', 'meta.json')),
      'eval --json': report,
      ...Object.fromEntries(metrics.map((m, i) => [`metrics.jsonl:${i + 1} (${String(m['event'])})`, m])),
      ...Object.fromEntries(lines.map((l, i) => [`stdout:${i + 1} (${l.type})`, l])),
    };
    for (const c of ['step-00000006', 'step-00000008']) {
      for (const f of ['config.json', 'loop.json', 'manifest.json', 'state.json', 'meta.json']) documents[`checkpoints/${c}/${f}`] = readJson(join(runDir, 'checkpoints', c, f));
    }
    const bad = Object.entries(documents).flatMap(([name, doc]) => nonSnakeCaseKeys(doc).map((k) => `${name}: ${k}`));
    expect(bad).toEqual([]);
    // The walk reached the nested records: the workers' memory-fit reports, every rank's timings, the loop's sums.
    expect(JSON.stringify(documents)).toMatch(/"memory_fit":\{"budget_bytes"/);
    expect(JSON.stringify(documents)).toMatch(/"timings":\[\{"rank":0,"data_ms"/);
    expect(JSON.stringify(documents)).toMatch(/"epoch_sums":\{"loss_sum"/);
    expect(JSON.stringify(documents)).toMatch(/"samples_per_s"/);
  });

  it('stops at a step boundary on SIGINT, writes everything, exits 130 and says how to go on', async () => {
    const runDir = join(tmp('run'), 'r');
    const run = startCli(['train', ...common(), '--workers', '1', '--batch-size', '16', '--epochs', '50', '--run-dir', runDir]);
    await run.waitForLine(/"type":"step".*"step":3,/);
    run.child.kill('SIGINT');
    const r = await run.exit;
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/stopped by SIGINT at step \d+/);
    expect(r.stderr).toContain(`tfjs-ddp train --resume ${runDir}`);
    const summary = readJson(join(runDir, 'summary.json'));
    expect(summary['status']).toBe('interrupted');
    expect(summary['stop_reason']).toBe('SIGINT');
    const steps = readJsonLines(join(runDir, 'metrics.jsonl')).filter((m) => m['event'] === 'step');
    expect(steps.length).toBe(summary['steps']);
    expect(existsSync(join(runDir, 'model', 'weights.bin'))).toBe(true);
  });

  it.each([
    [['--lr', 'abc'], /E_CONFIG: --lr must be a number, got "abc"/],
    [['--batch-size', '0'], /E_CONFIG: --batch-size must be ≥ 1, got "0"/],
    [['--bogus'], /E_USAGE: unknown option '--bogus' for 'tfjs-ddp train'/],
    [['--config', '/nonexistent/c.json'], /E_CONFIG: cannot read --config \/nonexistent\/c.json \(ENOENT\)/],
  ])('rejects %j with exit code 2 and a message before doing any work', async (args, message) => {
    const runDir = join(tmp('run'), 'r');
    const r = await runCli(['train', ...args, '--run-dir', runDir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(existsSync(runDir)).toBe(false);
  });
});
