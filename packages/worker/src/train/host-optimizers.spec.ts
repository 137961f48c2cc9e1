// The host SGD, momentum, Adam, RMSProp, Adagrad, Adadelta and Adamax updates against tfjs's own: the same weights, bit for bit, on the backends that keep
// tensors in host memory; new tensors each step (a layer's cached packed weights must see the
// update); and the cases where it must leave the update to tfjs.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend/select-backend';
import { GradientLayout } from './gradient-layout';
import { applyOnHost } from './host-optimizers';

let n = 0;
/** Variables of a few shapes with the same pseudo-random values each call (float32, awkward magnitudes). */
function variables(): tf.Variable[] {
  const shapes = [[3, 3, 4, 8], [8], [1], [5, 7]];
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 3;
  return shapes.map((s) => {
    const init = tf.tensor(Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, rand), s);
    const v = tf.variable(init, true, `host-opt-spec/${n++}`);
    init.dispose(); // the variable would share its memory otherwise
    return v;
  });
}

const bytes = async (vs: tf.Variable[]) => Promise.all(vs.map(async (v) => Array.from(new Uint32Array(((await v.data()) as Float32Array).slice().buffer))));

describe.each(['wasm', 'cpu'])('host optimizers on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend(backend as 'wasm' | 'cpu');
  });

  it("gives tfjs's SGD weights bit for bit, as new tensors, and counts the iteration", async () => {
    const [stock, mine] = [variables(), variables()];
    const layouts = [new GradientLayout(stock), new GradientLayout(mine)];
    const mean = Float32Array.from({ length: layouts[0]!.size }, (_, i) => Math.fround(Math.sin(i * 1.7) * 1e-3 * (i % 5 === 0 ? 1e4 : 1)));
    const [optA, optB] = [tf.train.sgd(0.1), tf.train.sgd(0.1)];
    const ids = mine.map((v) => v.dataId);
    for (let step = 0; step < 3; step++) {
      const grads = layouts[0]!.unflatten(mean);
      optA.applyGradients(grads);
      tf.dispose(Object.values(grads));
      expect(applyOnHost(optB, layouts[1]!, mean)).toBe(true);
    }
    expect(await bytes(mine)).toEqual(await bytes(stock));
    // New memory each step: a cache keyed by tensor (XNNPACK's packed weights on wasm) sees new weights.
    mine.forEach((v, i) => expect(v.dataId).not.toBe(ids[i]));
    expect((await optB.getWeights())[0]!.tensor.dataSync()[0]).toBe(3);
    tf.dispose([...stock, ...mine]);
    optA.dispose();
    optB.dispose();
  });

  it.each([false, true])("gives tfjs's momentum weights and slots bit for bit (Nesterov %s), the slots the optimizer's own", async (nesterov) => {
    const [stock, mine] = [variables(), variables()];
    const layouts = [new GradientLayout(stock), new GradientLayout(mine)];
    const [optA, optB] = [tf.train.momentum(0.05, 0.9, nesterov), tf.train.momentum(0.05, 0.9, nesterov)];
    for (let step = 0; step < 3; step++) {
      const mean = Float32Array.from({ length: layouts[0]!.size }, (_, i) => Math.fround(Math.cos(i * 0.37 + step) * 1e-2));
      const grads = layouts[0]!.unflatten(mean);
      (optA as tf.Optimizer).applyGradients(grads);
      tf.dispose(Object.values(grads));
      expect(applyOnHost(optB, layouts[1]!, mean)).toBe(true);
    }
    expect(await bytes(mine)).toEqual(await bytes(stock));
    const slots = async (o: tf.Optimizer) => Promise.all((await o.getWeights()).map(async (w) => [w.name.replace(/\/\d+\//, '/'), Array.from(new Uint32Array(Float32Array.from(await w.tensor.data()).buffer))]));
    const [a, b] = [await slots(optA), await slots(optB)];
    expect(b.map(([n]) => n)).toEqual(['iter', ...mine.map((v) => `${v.name}/momentum`.replace(/\/\d+\//, '/'))]);
    expect(b.map(([, d]) => d)).toEqual(a.map(([, d]) => d));
    tf.dispose([...stock, ...mine]);
    optA.dispose();
    optB.dispose();
  });

  it.each([[0.01, undefined], [0.003, 1e-4]] as const)("gives tfjs's Adam weights, moments and β powers bit for bit (lr %f, ε %s)", async (lr, eps) => {
    const [stock, mine] = [variables(), variables()];
    const layouts = [new GradientLayout(stock), new GradientLayout(mine)];
    const [optA, optB] = [tf.train.adam(lr, 0.9, 0.999, eps), tf.train.adam(lr, 0.9, 0.999, eps)];
    for (let step = 0; step < 4; step++) {
      const mean = Float32Array.from({ length: layouts[0]!.size }, (_, i) => Math.fround(Math.cos(i * 0.37 + step) * (i % 7 === 0 ? 1e-6 : 1e-2)));
      const grads = layouts[0]!.unflatten(mean);
      (optA as tf.Optimizer).applyGradients(grads);
      tf.dispose(Object.values(grads));
      expect(applyOnHost(optB, layouts[1]!, mean)).toBe(true);
    }
    expect(await bytes(mine)).toEqual(await bytes(stock));
    const slots = async (o: tf.Optimizer) => Promise.all((await o.getWeights()).map(async (w) => Array.from(new Uint32Array(Float32Array.from(await w.tensor.data()).buffer))));
    expect(await slots(optB)).toEqual(await slots(optA));
    const powers = (o: tf.Optimizer) => ['accBeta1', 'accBeta2'].map((k) => Array.from((o as unknown as Record<string, tf.Variable>)[k]!.dataSync()));
    expect(powers(optB)).toEqual(powers(optA));
    tf.dispose([...stock, ...mine]);
    optA.dispose();
    optB.dispose();
  });

  it.each([
    [0.01, 0.9, 0, undefined, false],
    [0.003, 0.95, 0.8, 1e-4, false],
    [0.01, 0.9, 0.5, undefined, true],
  ] as const)("gives tfjs's RMSProp weights and slots bit for bit (lr %f, ρ %f, momentum %f, ε %s, centered %s)", async (lr, decay, momentum, eps, centered) => {
    const [stock, mine] = [variables(), variables()];
    const layouts = [new GradientLayout(stock), new GradientLayout(mine)];
    const [optA, optB] = [tf.train.rmsprop(lr, decay, momentum, eps, centered), tf.train.rmsprop(lr, decay, momentum, eps, centered)];
    for (let step = 0; step < 4; step++) {
      // Centered: the gradient's mean square stays above its squared mean (a positive square root).
      const mean = Float32Array.from({ length: layouts[0]!.size }, (_, i) => Math.fround(Math.cos(i * 0.37 + step * 2.1) * (i % 7 === 0 ? 1e-3 : 1e-1)));
      const grads = layouts[0]!.unflatten(mean);
      (optA as tf.Optimizer).applyGradients(grads);
      tf.dispose(Object.values(grads));
      expect(applyOnHost(optB, layouts[1]!, mean)).toBe(true);
    }
    expect(await bytes(mine)).toEqual(await bytes(stock));
    const slots = async (o: tf.Optimizer) => Promise.all((await o.getWeights()).map(async (w) => [w.name.replace(/\/\d+\//, '/'), Array.from(new Uint32Array(Float32Array.from(await w.tensor.data()).buffer))]));
    const [a, b] = [await slots(optA), await slots(optB)];
    expect(b.map(([n]) => n)).toEqual(a.map(([n]) => n));
    expect(b.map(([, d]) => d)).toEqual(a.map(([, d]) => d));
    tf.dispose([...stock, ...mine]);
    optA.dispose();
    optB.dispose();
  });

  it.each([
    ['Adagrad', () => tf.train.adagrad(0.1)],
    ['Adagrad (initial accumulator 0.5)', () => tf.train.adagrad(0.02, 0.5)],
    ['Adadelta', () => tf.train.adadelta(1, 0.95)],
    ['Adadelta (ε 1e-6)', () => tf.train.adadelta(0.5, 0.9, 1e-6)],
    ['Adamax', () => tf.train.adamax(0.002, 0.9, 0.999)],
    ['Adamax (decay 0.01)', () => tf.train.adamax(0.01, 0.8, 0.99, 1e-5, 0.01)],
  ] as const)("gives tfjs's %s weights and slots bit for bit", async (_name, make) => {
    const [stock, mine] = [variables(), variables()];
    const layouts = [new GradientLayout(stock), new GradientLayout(mine)];
    const [optA, optB] = [make(), make()];
    for (let step = 0; step < 4; step++) {
      const mean = Float32Array.from({ length: layouts[0]!.size }, (_, i) => Math.fround(Math.cos(i * 0.37 + step * 2.1) * (i % 7 === 0 ? 1e-4 : 1e-1)));
      const grads = layouts[0]!.unflatten(mean);
      (optA as tf.Optimizer).applyGradients(grads);
      tf.dispose(Object.values(grads));
      expect(applyOnHost(optB, layouts[1]!, mean)).toBe(true);
    }
    expect(await bytes(mine)).toEqual(await bytes(stock));
    // The slots as the optimizers hold them (tfjs 4.22's Adamax has no getWeights).
    const slots = (o: tf.Optimizer) =>
      ['accumulatedGrads', 'accumulatedUpdates', 'accumulatedFirstMoment', 'accumulatedWeightedInfNorm'].flatMap((k) =>
        ((o as unknown as Record<string, { originalName: string; variable: tf.Variable }[] | undefined>)[k] ?? []).map((w) => [w.originalName.replace(/\/\d+\//, '/'), Array.from(new Uint32Array(Float32Array.from(w.variable.dataSync()).buffer))]),
      );
    const [a, b] = [slots(optA), slots(optB)];
    expect(b.length).toBe(a.length);
    expect(a.length).toBeGreaterThan(0);
    expect(b.map(([n]) => n)).toEqual(a.map(([n]) => n));
    expect(b.map(([, d]) => d)).toEqual(a.map(([, d]) => d));
    const scalars = (o: tf.Optimizer) => ['accBeta1', 'iteration'].map((k) => (o as unknown as Record<string, tf.Variable | undefined>)[k]?.dataSync()[0]);
    expect(scalars(optB)).toEqual(scalars(optA));
    tf.dispose([...stock, ...mine]);
    optA.dispose();
    optB.dispose();
  });

  it('leaves the update to tfjs for a subclass of a stock optimizer (nothing changed)', async () => {
    class Custom extends tf.AdagradOptimizer {}
    const vs = variables();
    const layout = new GradientLayout(vs);
    const before = await bytes(vs);
    expect(applyOnHost(new Custom(0.1), layout, new Float32Array(layout.size).fill(0.5))).toBe(false);
    expect(await bytes(vs)).toEqual(before);
    tf.dispose(vs);
  });

  it('is seen by a dense layer on the next forward pass (no stale cached weights)', async () => {
    const w = tf.variable(tf.tensor2d([[1, 2], [3, 4]]), true, `host-opt-spec/dense-${n++}`);
    const layout = new GradientLayout([w]);
    const x = tf.tensor2d([[1, 1]]);
    const y0 = Array.from(tf.matMul(x, w).dataSync());
    expect(applyOnHost(tf.train.sgd(1), layout, Float32Array.from([1, 1, 1, 1]))).toBe(true);
    expect(Array.from(tf.matMul(x, w).dataSync())).toEqual(y0.map((v) => v - 2));
    tf.dispose([w, x]);
  });
});
