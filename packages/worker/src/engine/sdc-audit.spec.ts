import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { compareDigests, gradientDigest } from '@tfjs-ddp/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend/select-backend';
import { prepareBatch } from '../train/input-pipeline';
import { Trainer } from '../train/trainer';
import { flipExponentBit } from './flip-exponent-bit';
import { recomputeDigest } from './sdc-audit';
import type { WorkerEngine } from './worker-engine';

/** A small conv net with BatchNorm: its forward pass in training mode moves the moving statistics. */
function bnNet(): tfl.LayersModel {
  const input = tfl.input({ shape: [12, 12, 1] });
  let x = tfl.layers
    .conv2d({
      filters: 4,
      kernelSize: 3,
      padding: 'same',
      kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }),
    })
    .apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({}).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.activation({ activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalMaxPooling2d({}).apply(x) as tfl.SymbolicTensor;
  const y = tfl.layers
    .dense({ units: 10, kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) })
    .apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: y });
}

const images = Uint8Array.from({ length: 8 * 784 }, (_, i) => (i * 37) % 251);
const labels = Uint8Array.from({ length: 8 }, (_, i) => i % 10);

/** The engine's parts recomputeDigest uses: the trainer, and a task whose batch() is `samples`. */
function engineOf(trainer: Trainer): Pick<WorkerEngine, 'trainer' | 'task'> {
  const task = { train: {}, batch: () => Promise.resolve(batch()) };
  return { trainer, task: task as unknown as WorkerEngine['task'] };
}
function batch(): { xs: tf.Tensor; ys: tf.Tensor } {
  const b = prepareBatch(images, labels, 28, 28, 12);
  return { xs: b.x, ys: b.y };
}
const statistics = (trainer: Trainer) =>
  Promise.all(trainer.model.nonTrainableWeights.map((w) => w.read().data()));

describe.each(['wasm', 'cpu'])("the audit's recomputation on %s", (backend) => {
  beforeAll(async () => {
    await selectBackend(backend as 'wasm' | 'cpu');
  });

  it("gives the digest of the micro-batch's gradient and leaves weights, BatchNorm statistics and tensors as they were", async () => {
    const trainer = new Trainer(bnNet(), { lr: 0.1 });
    const weights = await trainer.layout.readWeights();
    const stats = await statistics(trainer);
    const tensors = tf.memory().numTensors;
    const d = await recomputeDigest(engineOf(trainer), Uint32Array.from([0, 1, 2, 3, 4, 5, 6, 7]));
    expect(tf.memory().numTensors).toBe(tensors);
    expect(Array.from(await trainer.layout.readWeights())).toEqual(Array.from(weights));
    expect((await statistics(trainer)).map((s) => Array.from(s))).toEqual(stats.map((s) => Array.from(s)));
    // The contribution's way: the gradient of the same batch added into a zeroed buffer.
    const grad = trainer.newGradientBuffer();
    const { xs, ys } = batch();
    await trainer.accumulate({ x: xs, y: ys }, grad);
    tf.dispose([xs, ys]);
    // That one moved the statistics (nothing put them back): the check above could have failed.
    expect((await statistics(trainer)).map((s) => Array.from(s))).not.toEqual(
      stats.map((s) => Array.from(s)),
    );
    expect(compareDigests(d, gradientDigest(grad)).relative).toBe(0);
    flipExponentBit(grad);
    expect(compareDigests(d, gradientDigest(grad)).agree).toBe(false);
  });

  it('repeats itself exactly for a model without random ops, and not for one with dropout (what the self-check tells apart)', async () => {
    const all = Uint32Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
    const plain = engineOf(new Trainer(bnNet(), { lr: 0.1 }));
    const [a, b] = [await recomputeDigest(plain, all), await recomputeDigest(plain, all)];
    expect(compareDigests(a, b).relative).toBe(0);
    const input = tfl.input({ shape: [12, 12, 1] });
    let x = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor;
    x = tfl.layers.dropout({ rate: 0.5 }).apply(x) as tfl.SymbolicTensor;
    const y = tfl.layers
      .dense({ units: 10, kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) })
      .apply(x) as tfl.SymbolicTensor;
    const random = engineOf(new Trainer(tfl.model({ inputs: input, outputs: y }), { lr: 0.1 }));
    const [c, d] = [await recomputeDigest(random, all), await recomputeDigest(random, all)];
    expect(compareDigests(c, d).agree).toBe(false);
  });
});
