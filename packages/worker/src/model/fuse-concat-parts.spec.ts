// Concat-free dense blocks (fuse-concat-parts.ts) on the wasm backend with the native addon and on
// the cpu backend (the JS loops): the seed DenseNet's loss and every gradient bit for bit those of
// the same model with its concatenations made, no Concat or SplitV kernel left in the step, the
// moving statistics and inference unchanged; a Concatenate that something else reads is left; and
// where the parts kernels are missing (the tensorflow backend, say), the stock path.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../backend/select-backend';
import { BN_GRAD_PARTS, BN_TRAIN_PARTS } from '../kernels/batch-norm-parts';
import { dnnlForSpecs } from '../kernels/dnnl/dnnl-test-gate';
import { recordKernels } from '../kernels/record-kernels';
import { buildDenseNet } from './densenet';
import { fuseBatchNormRelu } from './fuse-batch-norm-relu';
import { fuseConcatParts } from './fuse-concat-parts';

const { skip } = dnnlForSpecs('fuse-concat-parts.spec');

function lossAndGrads(
  model: tfl.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
): { out: Float32Array[]; kernels: string[] } {
  const vars = model.trainableWeights.map((w) => (w as unknown as { read(): tf.Variable }).read());
  const { result, kernels } = recordKernels(() =>
    tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
      vars,
    ),
  );
  const { value, grads } = result;
  return {
    out: [value, ...vars.map((v) => grads[v.name]!)].map((t) => t.dataSync() as Float32Array),
    kernels,
  };
}

const moving = (m: tfl.LayersModel) =>
  m.weights
    .filter((w) => /moving/.test(w.name))
    .map((w) => Array.from((w as unknown as { read(): tf.Tensor }).read().dataSync()));

describe('concat-free dense blocks', () => {
  const seedStep = (backend: 'wasm' | 'cpu') =>
    [
      `the seed's step on ${backend}: every Concat and SplitV gone, the same loss, gradients and moving statistics bit for bit`,
      async () => {
        await selectBackend(backend);
        expect(tf.getKernel(BN_TRAIN_PARTS, backend)).toBeDefined();
        const x = tf.randomNormal([4, 32, 32, 1], 0, 1, 'float32', 3);
        const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 10);
        const made = buildDenseNet({ inputSize: 32 });
        fuseBatchNormRelu(made);
        const want = lossAndGrads(made, x, y);
        const model = buildDenseNet({ inputSize: 32 }); // seeded initializers: the same weights
        fuseBatchNormRelu(model);
        expect(fuseConcatParts(model)).toBe(16);
        expect(fuseConcatParts(model)).toBe(16); // idempotent
        const got = lossAndGrads(model, x, y);
        expect(want.kernels).toContain('Concat');
        expect(got.kernels.filter((k) => k === 'Concat' || k === 'SplitV')).toEqual([]);
        expect(got.kernels.filter((k) => k === BN_TRAIN_PARTS)).toHaveLength(16);
        expect(got.out).toHaveLength(want.out.length);
        got.out.forEach((t, i) => expect(Array.from(t), `tensor ${i}`).toEqual(Array.from(want.out[i]!)));
        expect(moving(model)).toEqual(moving(made));
        // Inference is the stock path, concatenations made.
        expect(Array.from((model.predict(x) as tf.Tensor).dataSync())).toEqual(
          Array.from((made.predict(x) as tf.Tensor).dataSync()),
        );
      },
    ] as const;
  (skip ? it.skip : it)(...seedStep('wasm'), 120_000);
  it(...seedStep('cpu'), 120_000);

  it('leaves a Concatenate that something else reads, and on a backend without the parts kernels trains as before', async () => {
    await selectBackend('cpu');
    const input = tfl.input({ shape: [4, 4, 3] });
    const conv = tfl.layers
      .conv2d({ filters: 2, kernelSize: 1, kernelInitializer: tfl.initializers.glorotNormal({ seed: 1 }) })
      .apply(input) as tfl.SymbolicTensor;
    const cat = tfl.layers.concatenate().apply([input, conv]) as tfl.SymbolicTensor;
    const bn = tfl.layers.batchNormalization().apply(cat) as tfl.SymbolicTensor;
    const other = tfl.layers.concatenate().apply([input, conv]) as tfl.SymbolicTensor;
    const both = tfl.layers.add().apply([bn, other]) as tfl.SymbolicTensor;
    const out = tfl.layers
      .dense({ units: 2, kernelInitializer: tfl.initializers.glorotNormal({ seed: 2 }) })
      .apply(tfl.layers.flatten().apply(both) as tfl.SymbolicTensor) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: out });
    fuseBatchNormRelu(model);
    // The first Concatenate feeds only a BatchNorm; the second an Add.
    expect(fuseConcatParts(model)).toBe(1);
    const x = tf.randomNormal([2, 4, 4, 3], 0, 1, 'float32', 5);
    const y = tf.oneHot(tf.tensor1d([0, 1], 'int32'), 2);
    const { kernels, out: grads } = lossAndGrads(model, x, y);
    expect(kernels.filter((k) => k === 'Concat')).toHaveLength(1);
    expect(kernels.filter((k) => k === BN_TRAIN_PARTS)).toHaveLength(1);
    // Without the parts kernels: both concatenations made, the same loss and gradients.
    const kernelsOf = (name: string) => tf.getKernel(name, 'cpu')!;
    const saved = [kernelsOf(BN_TRAIN_PARTS), kernelsOf(BN_GRAD_PARTS)];
    saved.forEach((k) => tf.unregisterKernel(k.kernelName, 'cpu'));
    try {
      const stock = lossAndGrads(model, x, y);
      expect(stock.kernels.filter((k) => k === 'Concat')).toHaveLength(2);
      stock.out.forEach((t, i) => expect(Array.from(t), `tensor ${i}`).toEqual(Array.from(grads[i]!)));
    } finally {
      saved.forEach((k) => tf.registerKernel(k));
    }
  });
});
