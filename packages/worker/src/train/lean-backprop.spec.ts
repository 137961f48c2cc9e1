import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend/select-backend';
import { wasmTensorBytes } from '../backend/wasm-malloc';
import { buildDenseNet } from '../model/densenet';
import { fuseBatchNormRelu } from '../model/fuse-batch-norm-relu';
import { installLeanBackprop, takePendingGradient, uninstallLeanBackprop } from './lean-backprop';

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
    const run = (): { grads: Float32Array[]; peak: number } => {
      const before = tf.memory().numTensors;
      // The wasm allocator's own count: tf.profile's peakBytes counts a shared clone twice.
      const rest = wasmTensorBytes(true)!.live;
      const r = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, vars);
      const peak = wasmTensorBytes()!.peak - rest;
      const grads = vars.map((v) => r.grads[v.name]!.dataSync() as Float32Array);
      tf.dispose([r.value, ...Object.values(r.grads)]);
      expect(tf.memory().numTensors).toBe(before);
      return { grads, peak };
    };
    uninstallLeanBackprop();
    const stock = run();
    installLeanBackprop();
    const lean = run();
    expect(lean.grads.length).toBe(stock.grads.length);
    lean.grads.forEach((g, i) => expect(Array.from(g)).toEqual(Array.from(stock.grads[i]!)));
    // Tensor bytes held at the peak, at batch 4, 32×32: 5.5 MB against the stock pass's 10.1 MB
    // (0.55). 6.9 MB (0.68) while the lean pass kept every output's gradient to the end (it looked
    // for the gradient among the map's values before dropping the output's own entry).
    expect(lean.peak).toBeLessThan(stock.peak * 0.6);
  });
});

describe('takePendingGradient', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
    installLeanBackprop();
  });

  it("hands a node the gradient its input has so far, once, and the sum still comes out right", () => {
    const x = tf.tensor1d([1, 2, 3]);
    const seen: (number[] | null)[] = [];
    // f(x) = Σ 3x + Σ x²: the op below sees x's gradient from the Σ 3x branch (3 each) and adds it.
    const square = tf.customGrad((...args: (tf.Tensor | ((t: tf.Tensor[]) => void))[]) => {
      const xi = args[0] as tf.Tensor;
      return {
        value: tf.square(xi),
        gradFunc: (dy: tf.Tensor | tf.Tensor[]) => {
          const pending = takePendingGradient(xi);
          seen.push(pending === null ? null : Array.from(pending.dataSync()));
          // A tensor that is not the node's input: nothing to take.
          expect(takePendingGradient(tf.tensor1d([0, 0, 0]))).toBeNull();
          const own = tf.mul(dy as tf.Tensor, tf.mul(xi, 2));
          if (pending === null) return [own];
          const sum = tf.add(own, pending);
          pending.dispose();
          return [sum];
        },
      };
    });
    // Recorded square first, so the reverse pass reaches it after the Σ 3x branch.
    const g = tf.grad((t: tf.Tensor) => tf.add(tf.sum(square(t)), tf.sum(tf.mul(t, 3))))(x);
    expect(Array.from(g.dataSync())).toEqual([5, 7, 9]);
    expect(seen).toEqual([[3, 3, 3]]);
    expect(takePendingGradient(x)).toBeNull();
  });
});
