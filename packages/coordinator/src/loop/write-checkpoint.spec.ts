import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_TRAIN_CONFIG } from '@tfjs-ddp/core';
import { describe, expect, it } from 'vitest';
import { CheckpointStore } from '../checkpoint/checkpoint-store';
import { LoopReporter } from './loop-reporter';
import { LoopState, type LoopContext } from './loop-state';
import { keptLog, ScriptedGroup, worker } from './scripted-group';
import { writeCheckpoint } from './write-checkpoint';

const sums = { lossSum: 1, correct: 2, count: 3, ms: 4, skipped: 0, metrics: [] };

function setup() {
  const group = new ScriptedGroup([worker(0, 32), worker(1, 32)]);
  const rows: Record<string, unknown>[] = [];
  const state = new LoopState(DEFAULT_TRAIN_CONFIG, group.describe());
  state.step = 4;
  const ctx: LoopContext = {
    config: DEFAULT_TRAIN_CONFIG,
    group,
    state,
    report: new LoopReporter({ metric: (r) => rows.push(r) }, keptLog()),
  };
  const store = new CheckpointStore(mkdtempSync(join(tmpdir(), 'tfjs-ddp-cp-')));
  const checkpoints = {
    store,
    every: 2,
    extraFiles: { 'config.json': new TextEncoder().encode('{"epochs":3}\n') },
  };
  return { ctx, state, rows, store, checkpoints, group };
}

describe('writeCheckpoint', () => {
  it("writes the snapshot, the config and the loop's position, once per step", async () => {
    const { ctx, state, rows, store, checkpoints } = setup();
    await writeCheckpoint(ctx, checkpoints, 'every', 1, 2, sums);
    await writeCheckpoint(ctx, checkpoints, 'SIGINT', 1, 2, sums);
    expect(store.names()).toHaveLength(1);
    const dir = join(store.root, store.names()[0]!);
    expect(JSON.parse(readFileSync(join(dir, 'loop.json'), 'utf8'))).toMatchObject({
      step: 4,
      epoch: 1,
      batch_in_epoch: 2,
      epoch_sums: { loss_sum: 1, count: 3 },
      global_batch: 256,
    });
    expect(readFileSync(join(dir, 'config.json'), 'utf8')).toBe('{"epochs":3}\n');
    expect(rows).toMatchObject([
      { event: 'checkpoint', step: 4, epoch: 1, batch_in_epoch: 2, reason: 'every', dir },
    ]);
    expect(state.checkpointedAt).toBe(4);
  });

  it('writes nothing without checkpointing', async () => {
    const { ctx, state, rows } = setup();
    await writeCheckpoint(ctx, undefined, 'epoch', 2, 0, sums);
    expect([rows, state.checkpointedAt]).toEqual([[], -1]);
  });

  it('writes nothing of ranks whose weights differ, and stops with E_SDC', async () => {
    const { ctx, rows, store, checkpoints, group } = setup();
    const snapshot = group.snapshot.bind(group);
    group.snapshot = async () => ({ ...(await snapshot()), checksums: ['a', 'b'] });
    await expect(writeCheckpoint(ctx, checkpoints, 'every', 1, 2, sums)).rejects.toMatchObject({
      code: 'E_SDC',
    });
    expect(store.names()).toEqual([]);
    expect(rows.map((r) => r['event'])).toEqual(['sdc']);
  });
});
