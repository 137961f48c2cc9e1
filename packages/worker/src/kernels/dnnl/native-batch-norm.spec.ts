// The native BatchNorm (+ ReLU) kernels (native/batch_norm.h) against the JS loops they replace, on
// wasm: bit for bit (signed zeros aside), the same passes, float64 sums and float32 element-wise
// arithmetic; the backward adding x's pending gradient (acc); ties at zero (β = 0, a symmetric
// batch) included.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { getKernel, registerKernel, unregisterKernel, type KernelConfig, type NamedAttrMap } from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { BN_GRAD_PARTS, BN_TRAIN_PARTS, nativeBatchNormPartsConfigs } from '../batch-norm-parts';
import { batchNormReluConfigs, BN_GRAD, BN_TRAIN, nativeBatchNormConfigs } from '../batch-norm-relu';
import { randomArray, rng } from '../conv-cases';
import { dnnlForSpecs } from './dnnl-test-gate';

const { load, skip } = dnnlForSpecs('native-batch-norm.spec');

function use(configs: KernelConfig[]): void {
  for (const c of configs) {
    if (getKernel(c.kernelName, 'wasm') !== undefined) unregisterKernel(c.kernelName, 'wasm');
    registerKernel(c);
  }
}

/** Forward then backward through whichever kernels are registered: y, mean, var, 1/σ, dx, dγ, dβ as bits. */
function run(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, dy: tf.Tensor, relu: boolean, acc?: tf.Tensor): number[][] {
  return tf.tidy(() => {
    const k = (name: string, inputs: tf.NamedTensorMap, attrs: object) => tf.engine().runKernel(name, inputs, attrs as NamedAttrMap) as tf.Tensor[];
    const [y, mean, variance, invStd] = k(BN_TRAIN, { x, gamma, beta }, { epsilon: 1e-5, relu });
    const grads = k(BN_GRAD, { dy, x, y: y!, mean: mean!, invStd: invStd!, gamma, beta, ...(acc === undefined ? {} : { acc }) }, { relu });
    // −0 read as 0: where the ReLU masks a whole channel, dx is ±0 by the sign of dy (dy·0 in C++,
    // a literal 0 in JS), the same value.
    return [y!, mean!, variance!, invStd!, ...grads].map((t) => Array.from(new Uint32Array((t.dataSync() as Float32Array).slice().buffer), (b) => (b === 0x80000000 ? 0 : b)));
  });
}

describe.skipIf(skip)('native BatchNorm (+ ReLU) against the JS kernels, on wasm', () => {
  beforeAll(async () => {
    expect(load.binding, `CI needs the oneDNN addon: ${load.why}`).toBeDefined();
    await tf.setBackend('wasm');
    await tf.ready();
  });

  const shapes = [
    [4, 5, 5, 7],
    [64, 6, 6, 32],
    [3, 1, 1, 1],
  ];
  for (const [relu, withAcc] of [[true, false], [false, false], [true, true]] as const) {
    it.each(shapes)(`gives the JS kernels' output and gradients bit for bit, relu ${relu}${withAcc ? ', adding acc to dx' : ''}: %i×%i×%i×%i`, (...shape) => {
      const r = rng(shape.reduce((a, b) => a * b, 1));
      const C = shape[3]!;
      const x = tf.tensor(randomArray(shape.reduce((a, b) => a * b, 1), r), shape);
      const gamma = tf.tensor(randomArray(C, r), [C]);
      const beta = tf.tensor(randomArray(C, r), [C]);
      const dy = tf.tensor(randomArray(shape.reduce((a, b) => a * b, 1), r), shape);
      const acc = withAcc ? tf.tensor(randomArray(shape.reduce((a, b) => a * b, 1), r), shape) : undefined;
      use(batchNormReluConfigs('wasm'));
      const js = run(x, gamma, beta, dy, relu, acc);
      use(nativeBatchNormConfigs(load.binding!));
      const native = run(x, gamma, beta, dy, relu, acc);
      native.forEach((a, i) => expect(a.filter((v, k) => v !== js[i]![k]).length, `output ${i}`).toBe(0));
      if (acc !== undefined) {
        // dx + acc is not dx: the acc input was used.
        const plain = run(x, gamma, beta, dy, relu);
        expect(plain[4]).not.toEqual(native[4]);
      }
      tf.dispose([x, gamma, beta, dy, ...(acc === undefined ? [] : [acc])]);
    });
  }

  // The parts kernels (model/fuse-concat-parts.ts) against the plain native ones on the
  // concatenation: the same bits, each part's dx the concatenated dx's slice, with acc on some parts.
  for (const relu of [true, false]) {
    it(`over channel parts (3, 1, 32, 4) the same bits as over their concatenation, acc on parts 0 and 2, relu ${relu}`, () => {
      const r = rng(relu ? 11 : 12);
      const widths = [3, 1, 32, 4];
      const lead = [5, 3, 2];
      const rows = lead.reduce((a, b) => a * b, 1);
      const C = widths.reduce((a, b) => a + b, 0);
      const parts = widths.map((w) => tf.tensor(randomArray(rows * w, r), [...lead, w]));
      const accs = widths.map((w, i) => (i % 2 === 0 ? tf.tensor(randomArray(rows * w, r), [...lead, w]) : undefined));
      const gamma = tf.tensor(randomArray(C, r), [C]);
      const beta = tf.tensor(randomArray(C, r), [C]);
      const dy = tf.tensor(randomArray(rows * C, r), [...lead, C]);
      use(nativeBatchNormConfigs(load.binding!));
      use(nativeBatchNormPartsConfigs(load.binding!));
      const bits = (t: tf.Tensor) => Array.from(new Uint32Array((t.dataSync() as Float32Array).slice().buffer));
      tf.tidy(() => {
        const k = (name: string, inputs: tf.NamedTensorMap, attrs: object) => tf.engine().runKernel(name, inputs, attrs as NamedAttrMap) as tf.Tensor[];
        const x = tf.concat(parts, -1);
        const acc = tf.concat(accs.map((a, i) => a ?? tf.zeros(parts[i]!.shape)), -1);
        const want = k(BN_TRAIN, { x, gamma, beta }, { epsilon: 1e-3, relu });
        const got = k(BN_TRAIN_PARTS, { gamma, beta, ...Object.fromEntries(parts.map((p, i) => [`x${i}`, p])) }, { epsilon: 1e-3, relu });
        got.forEach((t, i) => expect(bits(t), `forward output ${i}`).toEqual(bits(want[i]!)));
        const [, mean, , invStd] = want as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const [dxWant, dGammaWant, dBetaWant] = k(BN_GRAD, { dy, x, y: want[0]!, mean, invStd, gamma, beta, acc }, { relu });
        const grads = k(
          BN_GRAD_PARTS,
          { dy, gamma, beta, mean, invStd, ...Object.fromEntries(parts.map((p, i) => [`x${i}`, p])), ...Object.fromEntries(accs.flatMap((a, i) => (a === undefined ? [] : [[`acc${i}`, a]]))) },
          { relu },
        );
        expect(grads).toHaveLength(widths.length + 2);
        // Where a part has no acc, the concatenated run added zeros: x + 0 is x, bit for bit but for −0.
        const pieces = tf.split(dxWant!, widths, -1);
        grads.slice(0, widths.length).forEach((t, i) => {
          expect(t.shape).toEqual(parts[i]!.shape);
          const zero = (b: number) => (b === 0x80000000 ? 0 : b);
          expect(bits(t).map(zero), `dx of part ${i}`).toEqual(bits(pieces[i]!).map(zero));
        });
        expect(bits(grads[widths.length]!)).toEqual(bits(dGammaWant!));
        expect(bits(grads[widths.length + 1]!)).toEqual(bits(dBetaWant!));
      });
      tf.dispose([...parts, ...accs.filter((a) => a !== undefined), gamma, beta, dy]);
    });
  }

  it('routes no gradient through the ReLU at exactly zero (β = 0, a symmetric batch)', () => {
    const x = tf.tensor4d([-1, 0, 1, -2, 0, 2, -0.5, 0.5], [8, 1, 1, 1]);
    const gamma = tf.ones([1]);
    const beta = tf.zeros([1]);
    const dy = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8], [8, 1, 1, 1]);
    use(batchNormReluConfigs('wasm'));
    const js = run(x, gamma, beta, dy, true);
    use(nativeBatchNormConfigs(load.binding!));
    const native = run(x, gamma, beta, dy, true);
    expect(native).toEqual(js);
    expect(new Float32Array(Uint32Array.from(native[0]!).buffer)[1]).toBe(0);
    tf.dispose([x, gamma, beta, dy]);
  });
});
