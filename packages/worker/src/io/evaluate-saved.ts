// Evaluates a model saved with saveModelDir on given images: loads it with stock
// tf.loadLayersModel (no tfjs-ddp layer classes needed) and counts correct predictions.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { EvalOutcome } from '@tfjs-ddp/core';
import { prepareBatch } from '../train/input-pipeline';
import { scoreBatch } from '../train/score';
import { fileModelLoader } from './model-files';

export async function evaluateSavedModel(dir: string, images: Uint8Array, labels: Uint8Array, rows: number, cols: number, batchSize = 256): Promise<EvalOutcome> {
  const model = await tfl.loadLayersModel(fileModelLoader(dir));
  const size = model.inputs[0]!.shape[1]!;
  const out: EvalOutcome = { lossSum: 0, correct: 0, count: 0 };
  try {
    for (let from = 0; from < labels.length; from += batchSize) {
      const to = Math.min(labels.length, from + batchSize);
      const b = prepareBatch(images.subarray(from * rows * cols, to * rows * cols), labels.subarray(from, to), rows, cols, size);
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
