// Specs of the JSON lines a run prints when stdout is not a TTY (progress.ts).
import { nonSnakeCaseKeys } from '@tfjs-ddp/core';
import type { TrainEvent } from '@tfjs-ddp/coordinator';
import { describe, expect, it } from 'vitest';
import { jsonLinesProgress, progressLine } from './progress';

const EVENTS: TrainEvent[] = [
  { type: 'start', epochs: 2, stepsPerEpoch: 6, trainCount: 192, workers: [] },
  { type: 'step', epoch: 1, step: 3, stepInEpoch: 3, stepsInEpoch: 6, samples: 96, loss: 2.1, acc: 0.2, ms: 80, samplesPerS: 400 },
  { type: 'epoch', epoch: 1, trainLoss: 2, trainAcc: 0.25, testLoss: 1.9, testAcc: 0.3, samplesPerS: 390, wallS: 4.5 },
  { type: 'oom', step: 4, rank: 1, oldMicroBatch: 16, newMicroBatch: 8, accumulation: 2, reason: 'injected' },
  { type: 'restart', step: 5, rank: 1, oldPid: 100, newPid: 101, cause: 'was killed by SIGKILL' },
  { type: 'skipped', step: 6, inARow: 1 },
  { type: 'membership', step: 7, kind: 'shrink', worldSize: 1 },
  { type: 'stopped', reason: 'SIGINT', step: 7 },
];

describe('jsonLinesProgress', () => {
  it('prints one JSON object per event with snake_case keys, in the order of the event\'s fields', () => {
    let text = '';
    const sink = jsonLinesProgress({ write: (c: string) => (text += c) });
    for (const e of EVENTS) sink.event(e);
    const lines = text.trimEnd().split('\n');
    expect(lines).toEqual([
      '{"type":"start","epochs":2,"steps_per_epoch":6,"train_count":192}',
      '{"type":"step","epoch":1,"step":3,"step_in_epoch":3,"steps_in_epoch":6,"samples":96,"loss":2.1,"acc":0.2,"ms":80,"samples_per_s":400}',
      '{"type":"epoch","epoch":1,"train_loss":2,"train_acc":0.25,"test_loss":1.9,"test_acc":0.3,"samples_per_s":390,"wall_s":4.5}',
      '{"type":"oom","step":4,"rank":1,"old_micro_batch":16,"new_micro_batch":8,"accumulation":2,"reason":"injected"}',
      '{"type":"restart","step":5,"rank":1,"old_pid":100,"new_pid":101,"cause":"was killed by SIGKILL"}',
      '{"type":"skipped","step":6,"in_a_row":1}',
      '{"type":"membership","step":7,"kind":"shrink","world_size":1}',
      '{"type":"stopped","reason":"SIGINT","step":7}',
    ]);
    for (const e of EVENTS) expect(nonSnakeCaseKeys(progressLine(e))).toEqual([]);
  });
});
