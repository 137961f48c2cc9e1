// The library API as a program uses it: `import { train, loadModel } from '@tfjs-ddp/cli'` (the
// package `tfjs-ddp` once published), with a user's task from a directory outside the repository,
// 2 worker processes, events iterated and listened to, the summary, the saved model, and an abort.
import { copyFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { loadModel, train, type TrainEvent } from '@tfjs-ddp/cli';
import { selectBackend } from '@tfjs-ddp/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { readJson, readJsonLines, tmp } from './support/spawn-cli';

const fixtures = fileURLToPath(new URL('./fixtures/user-task/', import.meta.url));
let dir: string;
const task = () => ({
  model: join(dir, 'model.mjs'),
  data: join(dir, 'data.mjs'),
  backend: 'wasm' as const,
  batchSize: 16,
  microBatch: 8,
  epochs: 1,
});

beforeAll(async () => {
  dir = tmp('library');
  for (const f of ['model.mjs', 'data.mjs']) copyFileSync(join(fixtures, f), join(dir, f));
  await selectBackend('cpu');
});

describe('train() and loadModel()', () => {
  it('run what tfjs-ddp train runs, with its events, summary and model', async () => {
    const runDir = join(dir, 'run');
    const run = train({ ...task(), workers: 2, maxSteps: 3, runDir, settings: { train: 64 } });
    expect(run.runDir).toBe(runDir);
    const heard: number[] = [];
    run.on('step', (e) => heard.push(e.step));
    const types: TrainEvent['type'][] = [];
    for await (const e of run) types.push(e.type);
    const summary = await run.result;
    expect(summary).toMatchObject({ status: 'completed', workers: 2, steps: 3, trainable_params: 869 });
    expect(heard).toEqual([1, 2, 3]);
    expect(types[0]).toBe('start');
    expect(types.filter((t) => t === 'step')).toHaveLength(3);
    expect(readJson(join(runDir, 'summary.json'))).toMatchObject({ status: 'completed', steps: 3 });
    // settings reached the data module: 64 samples at batch 16 are 4 steps per epoch.
    expect(readJson(join(runDir, 'config.json'))).toMatchObject({ set: { train: 64 }, workers: 2 });
    const model = await loadModel(runDir);
    expect((model.predict(tf.zeros([1, 8, 8, 3])) as tf.Tensor).shape).toEqual([1, 5]);
  });

  it('stops at the next step boundary when aborted, with a checkpoint to resume', async () => {
    const stop = new AbortController();
    const run = train({ ...task(), workers: 1, runDir: join(dir, 'aborted'), signal: stop.signal });
    run.on('step', (e) => {
      if (e.step === 2) stop.abort();
    });
    const summary = await run.result;
    expect(summary.status).toBe('interrupted');
    expect(summary.steps).toBe(2);
    expect(existsSync(join(dir, 'aborted', 'checkpoints', 'step-00000002', 'manifest.json'))).toBe(true);

    // resume: goes on in place from step 2, with the run's own settings (maxSteps may change).
    const resumed = await train({ resume: join(dir, 'aborted'), maxSteps: 4 }).result;
    expect(resumed).toMatchObject({ status: 'completed', steps: 4 });
    const steps = readJsonLines(join(dir, 'aborted', 'metrics.jsonl'))
      .filter((l) => l['event'] === 'step')
      .map((l) => l['step']);
    expect(steps).toEqual([1, 2, 3, 4]);
    expect(() => train({ resume: join(dir, 'aborted'), lr: 0.5 })).toThrow(/E_CONFIG: train\(\): resume .*aborted: lr 0\.1 → 0\.5 would change the maths/);
    expect(() => train({ resume: join(dir, 'aborted'), overwrite: true })).toThrow(/E_CONFIG: resume and overwrite cannot be combined/);
  });

  it('refuses a runDir that holds a run, and with overwrite moves it aside whole', async () => {
    const runDir = join(dir, 'again');
    await train({ ...task(), workers: 1, maxSteps: 1, runDir }).result;
    const before = readFileSync(join(runDir, 'summary.json'), 'utf8');
    await expect(train({ ...task(), workers: 1, maxSteps: 1, runDir }).result).rejects.toThrow(/E_CONFIG: run directory .*again is not empty/);
    expect(readFileSync(join(runDir, 'summary.json'), 'utf8')).toBe(before);
    await train({ ...task(), workers: 1, maxSteps: 1, runDir, overwrite: true }).result;
    const aside = readdirSync(dir).filter((n) => n.startsWith('again.old-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(dir, aside[0]!, 'summary.json'), 'utf8')).toBe(before);
  });

  it('refuses bad options before any work', () => {
    expect(() => train({ ...task(), model: join(dir, 'nope.mjs') })).toThrow(
      /E_TASK: model module .*nope\.mjs not found/,
    );
    expect(() => train({ ...task(), lr: -1 })).toThrow(/E_CONFIG: train\(\): lr must be > 0/);
  });
});
