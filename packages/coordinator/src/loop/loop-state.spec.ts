import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '@tfjs-ddp/core';
import { describe, expect, it } from 'vitest';
import { loopCheckpointFromJson, loopCheckpointToJson } from '../run-documents';
import { LoopState, sumsToCheckpoint } from './loop-state';
import { applied, worker } from './scripted-group';

const config = (c: Partial<TrainConfig> = {}): TrainConfig => ({
  ...DEFAULT_TRAIN_CONFIG,
  epochs: 3,
  batchSize: 64,
  ...c,
});

describe('LoopState', () => {
  it('starts a fresh run from the workers: capacities, micro-batches, steps per epoch and the schedule horizon', () => {
    const s = new LoopState(config({ lrSchedule: 'cosine' }), [worker(0, 48, 200), worker(1, 16, 200)]);
    expect([s.capacities, s.microBatches, s.batchSize, s.stepsPerEpoch, s.step, s.firstEpoch]).toEqual([
      [48, 16],
      [48, 16],
      64,
      4,
      0,
      1,
    ]);
    expect(s.schedule.totalSteps).toBe(12);
    expect(s.scheduled).toBe(true);
    expect(s.plan().map((p) => p.samples)).toEqual([48, 16]);
    expect(s.epochStart(1)).toEqual({
      batch: 0,
      sums: { lossSum: 0, correct: 0, count: 0, ms: 0, skipped: 0, metrics: [] },
    });
  });

  it('takes the largest global batch that needs no accumulation for --batch-size auto', () => {
    expect(new LoopState(config({ batchSize: 'auto' }), [worker(0, 48), worker(1, 16)]).batchSize).toBe(64);
    expect(
      new LoopState(config({ batchSize: 'auto' }), [worker(0, 48, 50), worker(1, 16, 50)]).batchSize,
    ).toBe(50);
  });

  it('goes on from its own checkpoint on as many ranks: same split, same sums, same horizon', () => {
    const workers = [worker(0, 32, 200), worker(1, 32, 200)];
    const s = new LoopState(config({ lrSchedule: 'cosine' }), workers);
    s.microBatches[1] = 8;
    s.step = 6;
    s.restarts = 1;
    const sums = s.epochStart(2).sums;
    s.addApplied(sums, { ...applied(64), metrics: [] }, 10);
    s.addSkipped(sums, applied(64));
    const loop = loopCheckpointFromJson(
      JSON.stringify(loopCheckpointToJson(s.toCheckpoint(2, 2, sumsToCheckpoint(sums)))),
      'loop.json',
    );
    // A longer run resumed: the schedule keeps the horizon it started with.
    const r = new LoopState(config({ lrSchedule: 'cosine', epochs: 5 }), workers, loop);
    expect([
      r.step,
      r.firstEpoch,
      r.microBatches,
      r.restarts,
      r.skippedSteps,
      r.skippedInARow,
      r.schedule.totalSteps,
    ]).toEqual([6, 2, [32, 8], 1, 1, 1, 12]);
    expect(r.epochStart(2)).toEqual({
      batch: 2,
      sums: { lossSum: 32, correct: 48, count: 64, ms: 10, skipped: 64, metrics: [] },
    });
    expect(r.epochStart(3).batch).toBe(0);
    expect(r.checkpointedAt).toBe(6);
  });

  it('splits the kept global batch anew by capacity when resumed on another number of ranks', () => {
    const s = new LoopState(config(), [worker(0, 32), worker(1, 32)]);
    s.microBatches[1] = 8;
    const loop = s.toCheckpoint(1, 1, { lossSum: 0, correct: 0, count: 0, ms: 0 });
    const r = new LoopState(config({ batchSize: 256 }), [worker(0, 16), worker(1, 16), worker(2, 32)], loop);
    expect([r.batchSize, r.capacities, r.microBatches]).toEqual([64, [16, 16, 32], [16, 16, 32]]);
  });

  it('keeps each kept rank its micro-batch when the ranks change; a new rank starts at its capacity', () => {
    const s = new LoopState(config(), [worker(0, 32), worker(1, 32), worker(2, 32)]);
    s.microBatches.splice(0, 3, 16, 8, 4);
    s.resplit([2, 0, null], [worker(0, 32), worker(1, 32), worker(2, 24)]);
    expect([s.capacities, s.microBatches]).toEqual([
      [32, 32, 24],
      [4, 16, 24],
    ]);
  });

  it('counts skipped steps in a row until a step is applied', () => {
    const s = new LoopState(config(), [worker(0, 64)]);
    const sums = s.epochStart(1).sums;
    s.addSkipped(sums, applied(64));
    s.addSkipped(sums, applied(64));
    expect([s.skippedSteps, s.skippedInARow, sums.skipped, sums.count]).toEqual([2, 2, 128, 0]);
    s.addApplied(sums, applied(64), 5);
    expect([s.skippedSteps, s.skippedInARow, sums.count, s.last]).toEqual([
      2,
      0,
      64,
      { loss: 0.5, acc: 0.75 },
    ]);
  });

  it('names the newest checkpoint and the last audit passed for the audit messages', () => {
    const s = new LoopState(config(), [worker(0, 64)]);
    s.step = 9;
    expect(s.auditContext()).toEqual({ step: 9, lastAuditPassed: null, lastCheckpoint: null });
    s.checkpointedAt = 8;
    s.lastAuditPassed = 7;
    expect(s.auditContext()).toEqual({ step: 9, lastAuditPassed: 7, lastCheckpoint: 8 });
  });
});
