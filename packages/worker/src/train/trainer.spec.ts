import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend/select-backend';
import { buildDenseNet } from '../model/densenet';
import { prepareBatch } from './input-pipeline';
import { Trainer } from './trainer';

/** A small conv net without BatchNorm: micro-batching must not change its gradient at all. */
function tinyNet(): tfl.LayersModel {
  const input = tfl.input({ shape: [12, 12, 1] });
  let x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalMaxPooling2d({}).apply(x) as tfl.SymbolicTensor;
  const y = tfl.layers.dense({ units: 10, kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: y });
}

function randomImages(n: number, seed: number): { images: Uint8Array; labels: Uint8Array } {
  let s = seed;
  const next = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  return { images: Uint8Array.from({ length: n * 28 * 28 }, next), labels: Uint8Array.from({ length: n }, () => next() % 10) };
}

// webgpu (lavapipe here and in CI) too: its kernels return tensors the others do not (the BatchNorm's
// new moving statistics), and a leak there is GPU memory. TFJS_DDP_SKIP_WEBGPU=1 leaves it out.
const backends = ['wasm', 'cpu', ...(process.env['TFJS_DDP_SKIP_WEBGPU'] === '1' ? [] : ['webgpu'])];

describe.each(backends)('Trainer on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend(backend as 'wasm' | 'cpu' | 'webgpu');
  }, 60_000);

  it('accumulates micro-batches 3 + 5 into the same gradient sum as one batch of 8', async () => {
    const trainer = new Trainer(tinyNet(), { lr: 0.1 });
    const { images, labels } = randomImages(8, 7);
    const whole = trainer.newGradientBuffer();
    const b8 = prepareBatch(images, labels, 28, 28, 12);
    const r8 = await trainer.accumulate(b8, whole);
    const parts = trainer.newGradientBuffer();
    let lossSum = 0;
    for (const [from, to] of [[0, 3], [3, 8]] as const) {
      const b = prepareBatch(images.subarray(from * 784, to * 784), labels.subarray(from, to), 28, 28, 12);
      lossSum += (await trainer.accumulate(b, parts)).lossSum;
      tf.dispose([b.x, b.y]);
    }
    let num = 0;
    let den = 0;
    for (let i = 0; i < whole.length; i++) {
      num = Math.max(num, Math.abs(whole[i]! - parts[i]!));
      den = Math.max(den, Math.abs(whole[i]!));
    }
    expect(den).toBeGreaterThan(0);
    expect(num / den).toBeLessThan(1e-5);
    expect(lossSum).toBeCloseTo(r8.lossSum, 3);
    expect(r8.count).toBe(8);
    tf.dispose([b8.x, b8.y]);
  });

  it('leaks no tensors across training steps', async () => {
    const trainer = new Trainer(buildDenseNet({ inputSize: 32 }), { lr: 0.1, momentum: 0.9 });
    const { images, labels } = randomImages(4, 3);
    const step = async () => {
      const b = prepareBatch(images, labels, 28, 28, 32);
      const g = trainer.newGradientBuffer();
      const r = await trainer.accumulate(b, g);
      trainer.apply(g, r.count);
      tf.dispose([b.x, b.y]);
    };
    await step(); // creates the optimizer's momentum slots
    const before = tf.memory().numTensors;
    await step();
    await step();
    expect(tf.memory().numTensors).toBe(before);
  });

  // The cpu backend's forward convs are plain JS (~20 s for this); its kernels are covered above.
  it.runIf(backend === 'wasm')('drives the loss on a fixed batch down within a few DenseNet steps', async () => {
    const trainer = new Trainer(buildDenseNet({ inputSize: 32, seed: 1 }), { lr: 0.1 });
    const { images, labels } = randomImages(16, 11);
    const b = prepareBatch(images, labels, 28, 28, 32);
    const losses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const g = trainer.newGradientBuffer();
      const r = await trainer.accumulate(b, g);
      losses.push(r.lossSum / r.count);
      trainer.apply(g, r.count);
    }
    expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.7);
    tf.dispose([b.x, b.y]);
  });
});

describe('a learning-rate schedule factor', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  // One dense weight w = 1, loss (w·x)²/2 summed over x = 1: the gradient is w.
  const oneWeight = () => tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [1], units: 1, useBias: false, kernelInitializer: 'ones' })] });
  const stepWith = async (optimizer: tf.Optimizer | null, factor: number) => {
    const model = oneWeight();
    const trainer = new Trainer(model, { lr: 0.5 }, { lossSum: (_y, p) => tf.sum(tf.mul(0.5, tf.square(p))) as tf.Scalar, correct: () => tf.scalar(0) }, optimizer);
    const g = trainer.newGradientBuffer();
    await trainer.accumulate({ x: tf.ones([1, 1]), y: tf.zeros([1]) }, g);
    trainer.setLrFactor(factor);
    trainer.apply(g, 1);
    return (await model.getWeights()[0]!.data())[0]!;
  };

  it("scales the default SGD's rate (a tensor inside the optimizer) and a compiled Adam's (a field)", async () => {
    expect(await stepWith(null, 1)).toBeCloseTo(0.5, 6); // 1 − 0.5·1
    expect(await stepWith(null, 0.25)).toBeCloseTo(0.875, 6); // 1 − 0.125·1
    // Adam's first step moves each weight by about its rate, whatever the gradient's size.
    expect(await stepWith(tf.train.adam(0.1), 1)).toBeCloseTo(0.9, 4);
    expect(await stepWith(tf.train.adam(0.1), 0.5)).toBeCloseTo(0.95, 4);
    expect(await stepWith(tf.train.momentum(0.5, 0.9), 0.5)).toBeCloseTo(0.75, 6);
  });
});
