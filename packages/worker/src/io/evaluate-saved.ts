// Evaluates a model saved with saveModelDir on given images: loads it with stock
// tf.loadLayersModel (no tfjs-ddp layer classes needed) and counts correct predictions.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { EvalOutcome } from '@tfjs-ddp/core';
import { prepareBatch } from '../train/input-pipeline';
import { fileModelLoader } from './model-files';

export async function evaluateSavedModel(dir: string, images: Uint8Array, labels: Uint8Array, rows: number, cols: number, batchSize = 256): Promise<EvalOutcome> {
  const model = await tfl.loadLayersModel(fileModelLoader(dir));
  const size = model.inputs[0]!.shape[1]!;
  const out: EvalOutcome = { lossSum: 0, correct: 0, count: 0 };
  try {
    for (let from = 0; from < labels.length; from += batchSize) {
      const to = Math.min(labels.length, from + batchSize);
      const b = prepareBatch(images.subarray(from * rows * cols, to * rows * cols), labels.subarray(from, to), rows, cols, size);
      tf.tidy(() => {
        const logits = model.predict(b.x) as tf.Tensor2D;
        out.lossSum += tf.losses.softmaxCrossEntropy(tf.oneHot(b.y, logits.shape[1]), logits, undefined, undefined, tf.Reduction.SUM).dataSync()[0]!;
        out.correct += tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), b.y), 'int32')).dataSync()[0]!;
      });
      out.count += to - from;
      tf.dispose([b.x, b.y]);
    }
  } finally {
    model.dispose();
  }
  return out;
}
