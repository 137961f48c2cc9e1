// How a batch's logits are scored, the same way in training, evaluation and `tfjs-ddp eval`: the
// cross-entropy summed (not averaged) over the batch, so sums from micro-batches and ranks add up
// to the global batch's, and the number of correct top-1 predictions.
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Batch } from './input-pipeline';

export interface BatchScore {
  /** Summed cross-entropy over the batch. */
  lossSum: number;
  correct: number;
  count: number;
  /** The scoring's named metrics, each summed over the batch, in `metricNames` order. */
  metrics: number[];
}

/** Summed softmax cross-entropy of `logits` against class ids `y` (a scalar tensor). */
export function summedCrossEntropy(logits: tf.Tensor2D, y: tf.Tensor1D): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(tf.oneHot(y, logits.shape[1]), logits, undefined, undefined, tf.Reduction.SUM) as tf.Scalar;
}

/** Number of rows of `logits` whose arg-max is the label (an int32 scalar tensor). */
export function correctCount(logits: tf.Tensor2D, y: tf.Tensor1D): tf.Scalar {
  return tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'int32')) as tf.Scalar;
}

/** How a batch is scored: its summed loss and its correct count, from labels and model output. */
export interface Scoring {
  lossSum(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar;
  correct(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar;
  /** Names of the further metrics `metricSums` computes (a task's own; none by default). */
  metricNames?: readonly string[];
  /** Each further metric summed over the batch (scalars, in `metricNames` order). */
  metricSums?(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar[];
}

/** The seed's: softmax cross-entropy of logits against class ids, top-1 correct. */
export const LOGITS_SCORING: Scoring = {
  lossSum: (y, logits) => summedCrossEntropy(logits as tf.Tensor2D, y as tf.Tensor1D),
  correct: (y, logits) => correctCount(logits as tf.Tensor2D, y as tf.Tensor1D),
};

/** A batch as the trainer takes it: the model's input and the labels (any shapes the scoring takes). */
export interface AnyBatch {
  x: tf.Tensor;
  y: tf.Tensor;
}

/**
 * Loss and accuracy of `model` on `batch` in inference mode (moving BatchNorm statistics). One
 * asynchronous read of both figures: a GPU backend has no synchronous read in Node.
 */
export async function scoreBatch(model: tfl.LayersModel, batch: AnyBatch | Batch, scoring: Scoring = LOGITS_SCORING): Promise<BatchScore> {
  const both = tf.tidy(() => {
    const out = model.apply(batch.x, { training: false }) as tf.Tensor;
    const extras = scoring.metricSums?.(batch.y, out) ?? [];
    return tf.stack([scoring.lossSum(batch.y, out), tf.cast(scoring.correct(batch.y, out), 'float32'), ...extras.map((m) => tf.cast(m, 'float32'))]);
  });
  try {
    const [lossSum, correct, ...metrics] = (await both.data()) as Float32Array;
    return { lossSum: lossSum!, correct: correct!, count: batch.y.shape[0], metrics };
  } finally {
    both.dispose();
  }
}
