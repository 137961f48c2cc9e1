import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_TRAIN_CONFIG, type StepOutcome, type TrainConfig } from '@tfjs-ddp/core';
import { describe, expect, it } from 'vitest';
import { CheckpointStore } from './checkpoint/checkpoint-store';
import type { Resume } from './checkpoint/loop-checkpoint';
import { batchPlan } from './loop/batch-plan';
import { applied, ScriptedGroup, worker } from './loop/scripted-group';
import type { TrainEvent } from './loop/train-events';
import { RunDir } from './run-dir';
import { loopCheckpointFromJson } from './run-documents';
import { runTrainLoop } from './train-loop';

describe('batchPlan', () => {
  it('splits the global batch by capacity and accumulates where a share exceeds the micro-batch', () => {
    expect(batchPlan(256, [150, 50])).toEqual([
      { rank: 0, capacity: 150, samples: 192, micro_batch: 150, accumulation: 2 },
      { rank: 1, capacity: 50, samples: 64, micro_batch: 50, accumulation: 2 },
    ]);
    // After a back-off on rank 1: same shares, smaller micro-batch there.
    expect(batchPlan(256, [150, 50], [150, 25])[1]).toEqual({
      rank: 1,
      capacity: 50,
      samples: 64,
      micro_batch: 25,
      accumulation: 3,
    });
    expect(batchPlan(48, [1000, 1000]).map((p) => [p.samples, p.micro_batch, p.accumulation])).toEqual([
      [24, 24, 1],
      [24, 24, 1],
    ]);
  });
});

const tmp = () => mkdtempSync(join(tmpdir(), 'tfjs-ddp-loop-'));
const quiet = { info: () => {}, warn: () => {} };
const rowsOf = (run: RunDir) =>
  readFileSync(run.file('metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** 2 ranks of capacity 32 over 128 samples, batches of 64: 2 steps per epoch. */
function run(opts: {
  config?: Partial<TrainConfig>;
  script?: StepOutcome[];
  resume?: Resume;
  dir?: string;
  checkpoints?: boolean;
}) {
  const config: TrainConfig = {
    ...DEFAULT_TRAIN_CONFIG,
    epochs: 2,
    batchSize: 64,
    auditEvery: 0,
    ...opts.config,
  };
  const group = new ScriptedGroup([worker(0, 32, 128), worker(1, 32, 128)], opts.script);
  const runDir = new RunDir(opts.dir ?? join(tmp(), 'r'));
  const events: TrainEvent[] = [];
  const store = new CheckpointStore(runDir.path, 10);
  const done = runTrainLoop({
    config,
    group,
    runDir,
    log: quiet,
    onEvent: (e) => events.push(e),
    ...(opts.checkpoints === true ? { checkpoints: { store, every: 0, extraFiles: {} } } : {}),
    ...(opts.resume !== undefined ? { resume: opts.resume } : {}),
  });
  return { done, group, runDir, events, store };
}

describe('runTrainLoop', () => {
  it('runs every epoch on a scripted group: a row per step and per epoch, the events, and the summary', async () => {
    const { done, runDir, events, group } = run({});
    const summary = await done;
    expect(rowsOf(runDir).map((r) => r['event'])).toEqual([
      'start',
      'step',
      'step',
      'epoch',
      'step',
      'step',
      'epoch',
    ]);
    expect(events.map((e) => e.type)).toEqual(['start', 'step', 'step', 'epoch', 'step', 'step', 'epoch']);
    expect(group.plans.map((p) => [p.epoch, p.step])).toEqual([
      [1, 1],
      [1, 2],
      [2, 3],
      [2, 4],
    ]);
    // Every sample once per epoch.
    const epoch1 = group.plans.slice(0, 2).flatMap((p) => p.slices.flatMap((s) => [...s.indices]));
    expect(epoch1.sort((a, b) => a - b)).toEqual(Array.from({ length: 128 }, (_, i) => i));
    expect(summary).toMatchObject({
      status: 'completed',
      workers: 2,
      global_batch: 64,
      micro_batch_per_rank: [32, 32],
      epochs_completed: 2,
      steps: 4,
      train_loss: 0.5,
      train_acc: 0.75,
      test_acc: 0.8,
      restarts: 0,
      oom_events: 0,
      skipped_steps: 0,
      stop_reason: null,
    });
    expect(JSON.parse(readFileSync(runDir.file('summary.json'), 'utf8'))).toMatchObject({ steps: 4 });
  });

  it('stops at --max-steps with a checkpoint, from which a resume ends where an unstopped run ends', async () => {
    const dir = join(tmp(), 'r');
    const first = run({ dir, config: { maxSteps: 3 }, checkpoints: true });
    const stopped = await first.done;
    expect(stopped).toMatchObject({
      status: 'completed',
      steps: 3,
      stop_reason: 'max-steps',
      epochs_completed: 1,
    });
    const newest = first.store.names()[0]!;
    const loopJson = readFileSync(join(first.store.root, newest, 'loop.json'), 'utf8');
    const loop = loopCheckpointFromJson(loopJson, 'loop.json');
    expect(loop).toMatchObject({ step: 3, epoch: 2, batchInEpoch: 1, globalBatch: 64, capacities: [32, 32] });
    expect(loop.epochSums).toMatchObject({ count: 64, lossSum: 32 });
    first.runDir.close();

    const state = (await first.group.snapshot()).state;
    const again = run({ dir: join(tmp(), 'r'), resume: { loop, state, from: newest } });
    const resumed = await again.done;
    expect(again.group.plans.map((p) => p.step)).toEqual([4]);
    expect(resumed).toMatchObject({ status: 'completed', steps: 4, epochs_completed: 2, train_loss: 0.5 });
    expect(rowsOf(again.runDir).map((r) => r['event'])).toEqual(['resume', 'start', 'step', 'epoch']);
    // The resumed epoch counts the samples of the step before the stop.
    expect(again.events.find((e) => e.type === 'step')).toMatchObject({
      step: 4,
      stepInEpoch: 2,
      samples: 128,
    });
  });

  it('skips a step whose gradient was not finite and ends the run when too many in a row were', async () => {
    const skipped = { ...applied(64), skipped: true };
    const ok = run({ script: [skipped], config: { epochs: 1 } });
    const summary = await ok.done;
    expect(summary).toMatchObject({ steps: 2, skipped_steps: 1, epochs_completed: 1 });
    expect(rowsOf(ok.runDir).map((r) => r['event'])).toEqual(['start', 'skipped', 'step', 'epoch']);

    const diverged = run({ script: [skipped, skipped], config: { epochs: 1, maxSkippedSteps: 1 } });
    await expect(diverged.done).rejects.toMatchObject({
      code: 'E_DIVERGED',
      message: expect.stringContaining('in 2 steps in a row, up to step 2'),
    });
  });
});
