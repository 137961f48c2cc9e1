// Scoring a split of a task in inference mode, a batch at a time: the loss, the correct count and
// the task's own metrics, summed. One loop for a worker's share of the test set (WorkerEngine) and
// for `tfjs-ddp eval RUN_DIR` (io/evaluate-saved.ts).
import * as tf from '@tensorflow/tfjs-core';
import type { EvalOutcome } from '@tfjs-ddp/core';
import { scoreBatch } from '../train/score';
import type { DataSplit } from './task-contract';
import type { Task } from './task-runtime';

/** Runs one batch's work: the worker's runs it as a micro-batch of kind `kind` (on webgpu, with its buffer plan). */
export type BatchRunner = <T>(f: () => Promise<T>, kind: string) => Promise<T>;

/** Samples [start, end) of `split`, `batchSize` at a time (the model in inference mode). */
export async function evaluateSplit(
  task: Task,
  split: DataSplit,
  start: number,
  end: number,
  batchSize: number,
  run: BatchRunner = (f) => f(),
): Promise<EvalOutcome> {
  const out: EvalOutcome = { lossSum: 0, correct: 0, count: 0, metrics: task.metricNames.map(() => 0) };
  for (let from = start; from < end; from += batchSize) {
    const idx = Uint32Array.from({ length: Math.min(end, from + batchSize) - from }, (_, k) => from + k);
    const r = await run(async () => {
      const { xs, ys } = await task.batch(split, idx);
      try {
        return await scoreBatch(task.model, { x: xs, y: ys }, task);
      } finally {
        tf.dispose([xs, ys]);
      }
    }, `eval:${idx.length}`);
    out.lossSum += r.lossSum;
    out.correct += r.correct;
    out.count += r.count;
    r.metrics.forEach((v, j) => (out.metrics![j]! += v));
  }
  return out;
}
