// The wasm backend's SIMD kernels (kernels.wat): the shipped bytes are kernels.wat's, and the fused
// BatchNorm (+ ReLU) through them is the JS loops' bit for bit (signed zeros aside), forward and
// backward, with and without the ReLU and x's pending gradient (acc); ties at zero included.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { getKernel, type NamedAttrMap } from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import wabt from 'wabt';
import { beforeAll, describe, expect, it } from 'vitest';
import { batchNormReluConfigs, BN_GRAD, BN_TRAIN } from '../batch-norm-relu';
import { randomArray, rng } from '../conv-cases';
import { useKernels } from '../record-kernels';
import { nativeSumConfig } from '../native-pool-sum';
import { nativeConcatConfig, nativeSplitVConfig } from '../split-channels';
import { batchNormTrainSimd } from './batch-norm-simd';
import { simdHeapKernels, simdKernels } from './simd-kernels';
import { SIMD_WASM } from './simd-wasm.generated';

/** Forward then backward through whichever kernels are registered: y, mean, var, 1/σ, dx, dγ, dβ as bits. */
function run(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  dy: tf.Tensor,
  relu: boolean,
  acc?: tf.Tensor,
): number[][] {
  return tf.tidy(() => {
    const k = (name: string, inputs: tf.NamedTensorMap, attrs: object) =>
      tf.engine().runKernel(name, inputs, attrs as NamedAttrMap) as tf.Tensor[];
    const [y, mean, variance, invStd] = k(BN_TRAIN, { x, gamma, beta }, { epsilon: 1e-5, relu });
    const grads = k(
      BN_GRAD,
      { dy, x, y: y!, mean: mean!, invStd: invStd!, gamma, beta, ...(acc === undefined ? {} : { acc }) },
      { relu },
    );
    return [y!, mean!, variance!, invStd!, ...grads].map((t) =>
      Array.from(new Uint32Array((t.dataSync() as Float32Array).slice().buffer), (b) =>
        b === 0x80000000 ? 0 : b,
      ),
    );
  });
}

describe('the wasm SIMD kernels', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
  });

  it.each(Object.keys(SIMD_WASM))(
    'ship the bytes %s.wat assembles to (else: npm run build:wasm)',
    async (name) => {
      const w = await wabt();
      const m = w.parseWat(`${name}.wat`, readFileSync(join(import.meta.dirname, `${name}.wat`), 'utf8'));
      m.validate();
      const bytes = Buffer.from(m.toBinary({}).buffer).toString('base64');
      m.destroy();
      expect(
        bytes === SIMD_WASM[name as keyof typeof SIMD_WASM],
        `simd-wasm.generated.ts is not ${name}.wat: run npm run build:wasm`,
      ).toBe(true);
    },
  );

  it('load on the wasm backend, in place on its heap', () => {
    expect(simdKernels(tf.backend())).not.toBeNull();
    expect(simdKernels({})).toBeNull();
    // A channel count that is not a multiple of 4 keeps the JS loops.
    const x = tf.zeros([2, 3]);
    const g = tf.ones([3]);
    expect(batchNormTrainSimd(tf.backend(), [x], g, g, 1e-5, true)).toBeNull();
    tf.dispose([x, g]);
  });

  const shapes = [
    [4, 5, 5, 8],
    [64, 6, 6, 32],
    [3, 1, 1, 4],
    [2, 3, 3, 12],
    [4, 5, 5, 7],
  ];
  for (const [relu, withAcc] of [
    [true, false],
    [false, false],
    [true, true],
    [false, true],
  ] as const) {
    it.each(shapes)(
      `give the JS loops' BatchNorm output and gradients bit for bit, relu ${relu}${withAcc ? ', adding acc to dx' : ''}: %i×%i×%i×%i`,
      (...shape) => {
        const n = shape.reduce((a, b) => a * b, 1);
        const r = rng(n + shape[3]!);
        const C = shape[3]!;
        const x = tf.tensor(randomArray(n, r), shape);
        const gamma = tf.tensor(randomArray(C, r), [C]);
        const beta = tf.tensor(randomArray(C, r), [C]);
        const dy = tf.tensor(randomArray(n, r), shape);
        const acc = withAcc ? tf.tensor(randomArray(n, r), shape) : undefined;
        useKernels(batchNormReluConfigs('wasm', false));
        const js = run(x, gamma, beta, dy, relu, acc);
        useKernels(batchNormReluConfigs('wasm', true));
        const simd = run(x, gamma, beta, dy, relu, acc);
        simd.forEach((a, i) => expect(a.filter((v, k) => v !== js[i]![k]).length, `output ${i}`).toBe(0));
        if (acc !== undefined) expect(run(x, gamma, beta, dy, relu)[4]).not.toEqual(simd[4]);
        tf.dispose([x, gamma, beta, dy, ...(acc === undefined ? [] : [acc])]);
      },
    );
  }

  it('routes no gradient through the ReLU at exactly zero (β = 0, a symmetric batch)', () => {
    const x = tf.tensor4d(
      [-1, 0, 1, -2, 0, 2, -0.5, 0.5].flatMap((v) => [v, -v, 2 * v, 0]),
      [8, 1, 1, 4],
    );
    const gamma = tf.ones([4]);
    const beta = tf.zeros([4]);
    const dy = tf.tensor4d(
      Array.from({ length: 32 }, (_, i) => i + 1),
      [8, 1, 1, 4],
    );
    useKernels(batchNormReluConfigs('wasm', false));
    const js = run(x, gamma, beta, dy, true);
    useKernels(batchNormReluConfigs('wasm', true));
    const simd = run(x, gamma, beta, dy, true);
    expect(simd).toEqual(js);
    expect(new Float32Array(Uint32Array.from(simd[0]!).buffer)[4]).toBe(0);
    tf.dispose([x, gamma, beta, dy]);
  });

  it('split and concatenate along the last axis as the stock kernels do, whatever the channel counts', () => {
    const r = rng(11);
    const x = tf.tensor(randomArray(5 * 3 * 3 * 24, r), [5, 3, 3, 24]);
    const sizes = [7, 12, 1, 4];
    const stock = tf.split(x, sizes, 3);
    const stockJoined = tf.concat(stock, 3);
    const simd = simdHeapKernels(simdKernels(tf.backend())!);
    const previous = ['SplitV', 'Concat'].map((n) => getKernel(n, 'wasm')!);
    useKernels([nativeSplitVConfig(simd), nativeConcatConfig(simd)]);
    const parts = tf.split(x, sizes, 3);
    parts.forEach((p, i) =>
      expect(Array.from(p.dataSync()), `part ${i}`).toEqual(Array.from(stock[i]!.dataSync())),
    );
    const joined = tf.concat(parts, 3);
    expect(Array.from(joined.dataSync())).toEqual(Array.from(stockJoined.dataSync()));
    expect(Array.from(joined.dataSync())).toEqual(Array.from(x.dataSync()));
    useKernels(previous);
    tf.dispose([x, stockJoined, joined, ...stock, ...parts]);
  });

  it('sums over every axis but the last in float64, row by row (a bias gradient), whatever the channel count', () => {
    const simd = simdHeapKernels(simdKernels(tf.backend())!);
    const previous = getKernel('Sum', 'wasm')!;
    useKernels([nativeSumConfig(simd)]);
    for (const shape of [
      [64, 6, 6, 32],
      [4, 5, 5, 13],
      [3, 2],
    ]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const C = shape[shape.length - 1]!;
      const values = randomArray(n, rng(n)).map((v) => v * 1000 + 3);
      const x = tf.tensor(values, shape);
      const want = new Float64Array(C);
      for (let i = 0; i < n; i++) want[i % C]! += values[i]!;
      const got = tf.sum(
        x,
        shape.slice(0, -1).map((_, i) => i),
      );
      expect(Array.from(got.dataSync()), shape.join('×')).toEqual(Array.from(Float32Array.from(want)));
      tf.dispose([x, got]);
    }
    useKernels([previous]);
  });
});
