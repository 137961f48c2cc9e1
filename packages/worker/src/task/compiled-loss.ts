// The per-sample loss of a model compiled with `model.compile({ loss })`, for a model module that
// gives no loss of its own: the names tfjs-layers accepts for the common losses (Keras' formulas,
// epsilon 1e-7), or the function it was given. tfjs-layers' own table is not part of its public API.
import * as tf from '@tensorflow/tfjs-core';

export type PerSampleLoss = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;

const EPSILON = 1e-7;

function crossEntropy(target: tf.Tensor, output: tf.Tensor): tf.Tensor {
  const p = tf.clipByValue(tf.div(output, tf.sum(output, -1, true)), EPSILON, 1 - EPSILON);
  return tf.neg(tf.sum(tf.mul(target, tf.log(p)), -1));
}

const LOSSES: Record<string, PerSampleLoss> = {
  categoricalCrossentropy: (y, p) => crossEntropy(y, p),
  sparseCategoricalCrossentropy: (y, p) =>
    crossEntropy(tf.oneHot(tf.cast(tf.reshape(y, [-1]), 'int32'), p.shape[p.rank - 1]!), p),
  binaryCrossentropy: (y, p) => {
    const q = tf.clipByValue(p, EPSILON, 1 - EPSILON);
    return tf.neg(tf.mean(tf.add(tf.mul(y, tf.log(q)), tf.mul(tf.sub(1, y), tf.log(tf.sub(1, q)))), -1));
  },
  meanSquaredError: (y, p) => tf.mean(tf.square(tf.sub(p, y)), -1),
  meanAbsoluteError: (y, p) => tf.mean(tf.abs(tf.sub(p, y)), -1),
};

/** The names understood here, for error messages. */
export const COMPILED_LOSS_NAMES = Object.keys(LOSSES);

/**
 * The per-sample loss for what `compile()` was given, or null when it was given nothing (not
 * compiled) or something else (several outputs, an unknown name): the caller says what to do.
 */
export function compiledLoss(loss: unknown): PerSampleLoss | null {
  if (typeof loss === 'function') return loss as PerSampleLoss;
  if (typeof loss !== 'string') return null;
  return LOSSES[loss] ?? null;
}
