// The seed's model as a model module: the d2l DenseNet (model/densenet.ts), its input size, global
// pooling and BatchNorm from the task settings (resize, pool, batch_norm), and the softmax
// cross-entropy of its logits per sample (summed by tfjs-ddp: the same figures as before the task
// seam, bit for bit).
import * as tf from '@tensorflow/tfjs-core';
import { buildDenseNet } from '../../model/densenet';
import { defineModel } from '../task-contract';

export default defineModel({
  create(ctx) {
    const { resize, pool, batch_norm: batchNorm } = ctx.settings;
    return buildDenseNet({
      ...(typeof resize === 'number' ? { inputSize: resize } : {}),
      ...(pool === 'max' || pool === 'avg' ? { globalPool: pool } : {}),
      seed: ctx.seed,
      batchNorm: batchNorm !== false,
    });
  },
  loss(yTrue, yPred) {
    return tf.tidy(() =>
      tf.losses.softmaxCrossEntropy(
        tf.oneHot(yTrue as tf.Tensor1D, yPred.shape[1]!),
        yPred,
        undefined,
        undefined,
        tf.Reduction.NONE,
      ),
    );
  },
});
