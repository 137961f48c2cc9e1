import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend/select-backend';
import { buildDenseNet } from '../model/densenet';
import { fuseBatchNormRelu } from '../model/fuse-batch-norm-relu';
import { installLeanBackprop, uninstallLeanBackprop } from './lean-backprop';

describe('lean backprop', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });
  afterAll(() => installLeanBackprop());

  it('gives bit-identical DenseNet gradients to the stock reverse pass, at a lower peak and with no leak', async () => {
    const model = buildDenseNet({ inputSize: 32 });
    fuseBatchNormRelu(model); // as the Trainer does
    const vars = model.trainableWeights.map((w) => (w as unknown as { read(): tf.Variable }).read());
    const x = tf.randomNormal([4, 32, 32, 1], 0, 1, 'float32', 9);
    const y = tf.oneHot(tf.tensor1d([1, 2, 3, 4], 'int32'), 10);
    const run = async (): Promise<{ grads: Float32Array[]; peak: number }> => {
      const before = tf.memory().numTensors;
      let grads: Float32Array[] = [];
      const info = await tf.profile(() => {
        const r = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, vars);
        grads = vars.map((v) => r.grads[v.name]!.dataSync() as Float32Array);
        tf.dispose(Object.values(r.grads));
        return r.value;
      });
      tf.dispose(info.result as tf.Tensor);
      expect(tf.memory().numTensors).toBe(before);
      return { grads, peak: info.peakBytes };
    };
    uninstallLeanBackprop();
    const stock = await run();
    installLeanBackprop();
    const lean = await run();
    expect(lean.grads.length).toBe(stock.grads.length);
    lean.grads.forEach((g, i) => expect(Array.from(g)).toEqual(Array.from(stock.grads[i]!)));
    // 16.1 MB against 18.9 MB (0.85) at batch 4, 32×32. The stock pass peaked at 20.1 MB while wasm's
    // Identity copied every saved tensor, and at 25.0 MB before the fused BatchNorm op: both cut
    // the intermediates either pass keeps.
    expect(lean.peak).toBeLessThan(stock.peak * 0.9);
  });
});
