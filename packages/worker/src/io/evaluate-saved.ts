// Evaluates a model saved with saveModelDir: on given Fashion-MNIST images (evaluateSavedModel), or
// on its task's test split (evaluateTask). Loads it with stock tf.loadLayersModel (no tfjs-ddp layer
// classes needed) and counts correct predictions. On webgpu every batch runs as a worker's evaluation
// does (in error scopes, with a buffer plan), and a batch that runs out of memory is scored again in
// halves (scoreInBatches), so `tfjs-ddp eval` does not die of memory where the training did not.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { DdpError, type EvalOutcome } from '@tfjs-ddp/core';
import { withGpuErrorScopes } from '../backend/webgpu-scopes';
import { isBackendCorrupted, isOutOfMemoryError } from '../engine/memory-errors';
import { evaluateSplit } from '../task/evaluate-split';
import { openTask, type TaskWorkerSettings } from '../task/open-task';
import { prepareBatch } from '../train/input-pipeline';
import { scoreBatch } from '../train/score';
import { fileModelLoader } from './model-files';

/** The sums over the samples, and the batch size the last batch ran at (below the asked one after an out-of-memory). */
export interface ScoredSamples extends EvalOutcome {
  batchSize: number;
}

export interface EvaluateOptions {
  /** Samples per batch at first (default 256). */
  batchSize?: number;
  /** Called when the batch of samples [from, from + size·2) ran out of memory and is scored `size` at a time. */
  onSmallerBatch?(from: number, size: number, error: string): void;
}

/**
 * Scores samples [0, count) in batches of at most `batchSize`, each summed by `score(from, to)`. A
 * batch that runs out of memory (isOutOfMemoryError) is scored again at half its size: the sums do
 * not depend on the batch size. The batches after it keep the smaller size.
 * @throws DdpError E_MEMORY when a single sample does not fit; a corrupted backend's error (a wasm
 *   heap overflow, a lost GPU device) and any other error as they are.
 */
export async function scoreInBatches(
  count: number,
  opts: EvaluateOptions,
  score: (from: number, to: number) => Promise<EvalOutcome>,
): Promise<ScoredSamples> {
  let size = opts.batchSize ?? 256;
  if (!Number.isInteger(size) || size < 1) {
    throw new DdpError(
      'E_USAGE',
      `the batch size must be a positive integer, got ${size}`,
      'pass --batch-size N',
    );
  }
  const out: ScoredSamples = { lossSum: 0, correct: 0, count: 0, batchSize: size };
  for (let from = 0; from < count;) {
    const to = Math.min(count, from + size);
    let r: EvalOutcome;
    try {
      r = await score(from, to);
    } catch (e) {
      if (!isOutOfMemoryError(e) || isBackendCorrupted(e)) throw e;
      const message = e instanceof Error ? e.message.split('\n')[0]! : String(e);
      if (to - from === 1) {
        throw new DdpError(
          'E_MEMORY',
          `scoring one sample (number ${from}) ran out of memory: ${message}`,
          'free memory on the device, or evaluate with another --backend',
        );
      }
      size = Math.ceil((to - from) / 2);
      opts.onSmallerBatch?.(from, size, message);
      continue;
    }
    out.lossSum += r.lossSum;
    out.correct += r.correct;
    out.count += r.count;
    if (r.metrics !== undefined) out.metrics = r.metrics.map((v, j) => (out.metrics?.[j] ?? 0) + v);
    out.batchSize = size;
    from = to;
  }
  return out;
}

/**
 * Evaluates the model in `dir` on Fashion-MNIST-shaped images (resized to the model's input), as
 * scoreInBatches does.
 * @throws DdpError E_CONFIG when the model does not take square gray images or give 10 classes;
 *   E_MEMORY as scoreInBatches.
 */
export async function evaluateSavedModel(
  dir: string,
  images: Uint8Array,
  labels: Uint8Array,
  rows: number,
  cols: number,
  opts: EvaluateOptions = {},
): Promise<ScoredSamples> {
  const model = await tfl.loadLayersModel(fileModelLoader(dir));
  const [input, output] = [model.inputs[0]!.shape, model.outputs[0]!.shape];
  const size = input[1]!;
  if (input.length !== 4 || input[1] !== input[2] || input[3] !== 1 || output.at(-1) !== 10) {
    model.dispose();
    throw new DdpError(
      'E_CONFIG',
      `the model in ${dir} takes inputs ${JSON.stringify(input)} and gives ${JSON.stringify(output)}: not a Fashion-MNIST classifier (square gray images in, 10 classes out)`,
      'evaluate a run of your own task with `tfjs-ddp eval RUN_DIR`, which uses its data module',
    );
  }
  try {
    return await scoreInBatches(labels.length, opts, (from, to) =>
      withGpuErrorScopes(
        async () => {
          const b = prepareBatch(
            images.subarray(from * rows * cols, to * rows * cols),
            labels.subarray(from, to),
            rows,
            cols,
            size,
          );
          try {
            return await scoreBatch(model, b);
          } finally {
            tf.dispose([b.x, b.y]);
          }
        },
        { plan: `eval:${to - from}` },
      ),
    );
  } finally {
    model.dispose();
  }
}

/**
 * Evaluates a saved model on its task's test split: the task's modules build the model (for its
 * architecture and loss) and the data, the saved weights replace the built ones, and every test
 * sample is scored once with the task's summed loss and correct count.
 * @throws DdpError E_TASK when the task has no test split or the saved weights do not fit the model;
 *   E_MEMORY as scoreInBatches.
 */
export async function evaluateTask(
  settings: TaskWorkerSettings,
  modelDir: string,
  env: Record<string, string | undefined>,
  opts: EvaluateOptions = {},
): Promise<ScoredSamples & { names: readonly string[] }> {
  const task = await openTask(settings, 0, env);
  const test = task.test;
  if (test === null) {
    throw new DdpError(
      'E_TASK',
      `data module ${task.modules.data}: load(ctx) returned no test split`,
      'return { train, test } from load(ctx), or pass --data with a module that has one',
    );
  }
  const saved = await tfl.loadLayersModel(fileModelLoader(modelDir));
  try {
    const weights = saved.getWeights();
    const want = task.model.getWeights();
    if (weights.length !== want.length || weights.some((w, i) => w.shape.join() !== want[i]!.shape.join())) {
      throw new DdpError(
        'E_TASK',
        `${modelDir} holds ${weights.length} weights that do not fit the ${want.length} of the model from ${task.modules.model}`,
        'evaluate a run with the model module it was trained with',
      );
    }
    task.model.setWeights(weights);
  } finally {
    saved.dispose();
  }
  try {
    // One batch per call, as a worker's evaluation runs it (worker-engine.ts, evaluate).
    const r = await scoreInBatches(test.size, opts, (from, to) =>
      evaluateSplit(task, test, from, to, to - from, (f, kind) => withGpuErrorScopes(f, { plan: kind })),
    );
    return { ...r, names: task.metricNames };
  } finally {
    task.model.dispose();
  }
}
