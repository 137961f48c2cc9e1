import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { FastBatchNorm, batchNormTraining } from './fast-batch-norm';

function maxRelErr(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! / Math.max(1e-12, tf.max(tf.abs(b)).dataSync()[0]!));
}

describe('FastBatchNorm', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('matches the stock training-mode batch norm in output and in the gradients of x, gamma and beta', () => {
    const x = tf.add(tf.mul(tf.randomNormal([4, 5, 5, 3], 0, 1, 'float32', 1), 3), 2);
    const gamma = tf.randomUniform([3], 0.5, 1.5, 'float32', 2) as tf.Tensor1D;
    const beta = tf.randomNormal([3], 0, 1, 'float32', 3) as tf.Tensor1D;
    const r = tf.randomNormal([4, 5, 5, 3], 0, 1, 'float32', 4);
    const eps = 1e-5;
    const stock = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const m = tf.moments(a, [0, 1, 2]);
      return tf.batchNorm(a, m.mean, m.variance, b, g, eps);
    };
    const fast = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => batchNormTraining(a, g as tf.Tensor1D, b as tf.Tensor1D, eps).y;
    expect(maxRelErr(fast(x, gamma, beta), stock(x, gamma, beta))).toBeLessThan(1e-5);
    const gs = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(stock(a, g, b), r)))([x, gamma, beta]);
    const gf = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(fast(a, g, b), r)))([x, gamma, beta]);
    for (let i = 0; i < 3; i++) expect(maxRelErr(gf[i]!, gs[i]!)).toBeLessThan(1e-4);
  });

  it('updates the moving mean and the unbiased moving variance with momentum like PyTorch', () => {
    const layer = new FastBatchNorm({ momentum: 0.9, epsilon: 1e-5 });
    const x = tf.tensor4d([1, 2, 3, 6], [4, 1, 1, 1]);
    layer.apply(x, { training: true });
    const [, , movingMean, movingVar] = layer.getWeights();
    // mean 3, unbiased variance ((4+1+0+9)/3) = 14/3; from (0, 1) with weight 0.1 on the batch.
    expect(movingMean!.dataSync()[0]).toBeCloseTo(0.3, 6);
    expect(movingVar!.dataSync()[0]).toBeCloseTo(0.9 + 0.1 * (14 / 3), 5);
  });

  it('serialises as a stock BatchNormalization layer', () => {
    const layer = new FastBatchNorm({ momentum: 0.9 });
    expect(layer.getClassName()).toBe('BatchNormalization');
    const stock = tfl.layers.batchNormalization({ momentum: 0.9 });
    expect(layer.getConfig()).toEqual({ ...stock.getConfig(), name: layer.name });
  });
});
