// Evaluates a model saved with saveModelDir: on given Fashion-MNIST images (evaluateSavedModel), or
// on its task's test split (evaluateTask). Loads it with stock tf.loadLayersModel (no tfjs-ddp layer
// classes needed) and counts correct predictions.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { DdpError, type EvalOutcome } from '@tfjs-ddp/core';
import { evaluateSplit } from '../task/evaluate-split';
import { openTask, type TaskWorkerSettings } from '../task/open-task';
import { prepareBatch } from '../train/input-pipeline';
import { scoreBatch } from '../train/score';
import { fileModelLoader } from './model-files';

export async function evaluateSavedModel(
  dir: string,
  images: Uint8Array,
  labels: Uint8Array,
  rows: number,
  cols: number,
  batchSize = 256,
): Promise<EvalOutcome> {
  const model = await tfl.loadLayersModel(fileModelLoader(dir));
  const size = model.inputs[0]!.shape[1]!;
  const out: EvalOutcome = { lossSum: 0, correct: 0, count: 0 };
  try {
    for (let from = 0; from < labels.length; from += batchSize) {
      const to = Math.min(labels.length, from + batchSize);
      const b = prepareBatch(
        images.subarray(from * rows * cols, to * rows * cols),
        labels.subarray(from, to),
        rows,
        cols,
        size,
      );
      const r = await scoreBatch(model, b);
      out.lossSum += r.lossSum;
      out.correct += r.correct;
      out.count += r.count;
      tf.dispose([b.x, b.y]);
    }
  } finally {
    model.dispose();
  }
  return out;
}

/**
 * Evaluates a saved model on its task's test split: the task's modules build the model (for its
 * architecture and loss) and the data, the saved weights replace the built ones, and every test
 * sample is scored once with the task's summed loss and correct count.
 * @throws DdpError E_TASK when the task has no test split or the saved weights do not fit the model.
 */
export async function evaluateTask(
  settings: TaskWorkerSettings,
  modelDir: string,
  env: Record<string, string | undefined>,
  batchSize = 256,
): Promise<EvalOutcome & { names: readonly string[] }> {
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
    return { ...(await evaluateSplit(task, test, 0, test.size, batchSize)), names: task.metricNames };
  } finally {
    task.model.dispose();
  }
}
