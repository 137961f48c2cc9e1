// An optimizer's state read and written back (a checkpoint, a replaced rank): a fresh optimizer
// given another's slots continues exactly as the original does, Adamax (whose tfjs 4.22
// getWeights and setWeights throw) included; and the saved model's optimizer files have them.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend/select-backend';
import { optimizerWeights, readOptimizerSlots, writeOptimizerSlots } from './optimizer-slots';

let n = 0;
function variables(): tf.Variable[] {
  return [[3, 4], [5]].map((s, i) => {
    const init = tf.tensor(
      Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, (_, k) => Math.sin(k + i)),
      s,
    );
    const v = tf.variable(init, true, `slots-spec/${n++}`);
    init.dispose();
    return v;
  });
}

/** Applies the same gradient (step-dependent) to `vs` with `opt`. */
function step(opt: tf.Optimizer, vs: tf.Variable[], t: number): void {
  const grads = Object.fromEntries(vs.map((v) => [v.name, tf.tidy(() => tf.cos(tf.add(v, t)))]));
  opt.applyGradients(grads);
  tf.dispose(Object.values(grads));
}

const bits = (vs: tf.Variable[]) =>
  vs.map((v) => Array.from(new Uint32Array(Float32Array.from(v.dataSync()).buffer)));

describe('optimizer slots', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it.each([
    ['Adamax', () => tf.train.adamax(0.01, 0.9, 0.99, undefined, 0.01)],
    ['Adam', () => tf.train.adam(0.01)],
    ['RMSProp (centered)', () => tf.train.rmsprop(0.01, 0.9, 0.5, undefined, true)],
  ] as const)('%s: a fresh optimizer given the slots continues bit for bit', async (_name, make) => {
    const a = variables();
    const optA = make();
    for (let t = 0; t < 3; t++) step(optA, a, t);
    const slots = await readOptimizerSlots(optA);
    expect(slots.length).toBeGreaterThan(1);
    // A second copy of the weights, a fresh optimizer, then the state.
    const b = variables();
    b.forEach((v, i) => v.assign(a[i]!));
    const optB = make();
    await writeOptimizerSlots(optB, slots);
    for (let t = 3; t < 6; t++) {
      step(optA, a, t);
      step(optB, b, t);
    }
    expect(bits(b)).toEqual(bits(a));
    tf.dispose([...a, ...b]);
    optA.dispose();
    optB.dispose();
  });

  it("gives Adamax's weights in Adam's layout: the iteration count, the first moments, the infinity norms", async () => {
    const vs = variables();
    const opt = tf.train.adamax(0.01);
    step(opt, vs, 0);
    step(opt, vs, 1);
    const w = await optimizerWeights(opt);
    expect(w.map((x) => x.name.replace(/\/\d+\//, '/'))).toEqual([
      'iter',
      'slots-spec/m',
      'slots-spec/m',
      'slots-spec/v',
      'slots-spec/v',
    ]);
    expect(w[0]!.tensor.dataSync()[0]).toBe(2);
    tf.dispose(vs);
    opt.dispose();
  });
});
