// Zero padding + max pool as one op (kernels/max-pool-zero-pad.ts, model/fuse-pad-max-pool.ts):
// values and gradients bit for bit the composite's (PadV2 → MaxPool → MaxPoolGrad → Slice) on cpu,
// wasm's JS loops, wasm's WebAssembly SIMD kernels and wasm's native kernels, with ties, negative
// inputs (where a pad's 0 wins the max) and uneven padding; a model's fused pair trains to the stock layers' gradients without a
// PadV2, saves the same JSON and infers through the stock code.
import * as tf from '@tensorflow/tfjs-core';
import { getKernel, registerKernel, unregisterKernel, type KernelConfig } from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../backend/select-backend';
import { dnnlForSpecs } from '../kernels/dnnl/dnnl-test-gate';
import { recordKernels } from '../kernels/record-kernels';
import {
  maxPoolZeroPadConfigs,
  nativeMaxPoolZeroPadConfigs,
  type MaxPoolZeroPadAttrs,
} from '../kernels/max-pool-zero-pad';
import { simdHeapKernels, simdKernels } from '../kernels/simd/simd-kernels';
import { fusePadMaxPool, maxPoolZeroPad } from './fuse-pad-max-pool';

const { load, skip: noNative } = dnnlForSpecs('fuse-pad-max-pool.spec');

function use(configs: KernelConfig[]): void {
  for (const c of configs) {
    if (getKernel(c.kernelName, c.backendName) !== undefined) unregisterKernel(c.kernelName, c.backendName);
    registerKernel(c);
  }
}

/** Small integers: ties everywhere, and negative windows where a pad's 0 is the maximum. */
function ints(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return (s % 5) - 3;
  });
}

const bits = (t: tf.Tensor) => Array.from(new Uint32Array((t.dataSync() as Float32Array).slice().buffer));

/** y and dx (for dy) of `f`, as bits. */
function valueAndGrad(f: (x: tf.Tensor4D) => tf.Tensor, x: tf.Tensor4D, dy: tf.Tensor): number[][] {
  return tf.tidy(() => {
    const { value, grad } = tf.valueAndGrad((t: tf.Tensor) => f(t as tf.Tensor4D))(x, dy);
    return [bits(value), bits(grad)];
  });
}

const cases: [number[], MaxPoolZeroPadAttrs][] = [
  [[2, 7, 8, 3], { filterSize: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }],
  [[1, 6, 6, 17], { filterSize: [2, 2], strides: [2, 2], pads: [0, 1, 1, 0] }],
  [[2, 5, 5, 2], { filterSize: [3, 2], strides: [1, 2], pads: [2, 0, 0, 2] }],
  [[2, 9, 9, 8], { filterSize: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }],
  [[1, 6, 7, 12], { filterSize: [2, 3], strides: [1, 2], pads: [0, 1, 2, 0] }],
  // Whole 16-channel blocks of the native kernel (registers over the window), with and without a tail.
  [[2, 9, 9, 64], { filterSize: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }],
  [[1, 7, 8, 37], { filterSize: [3, 2], strides: [2, 1], pads: [1, 0, 2, 1] }],
];

const runs: [string, 'cpu' | 'wasm', () => void][] = [
  ['cpu', 'cpu', () => undefined],
  ['wasm, JS loops', 'wasm', () => use(maxPoolZeroPadConfigs('wasm'))],
  [
    'wasm, WebAssembly SIMD',
    'wasm',
    () => use(nativeMaxPoolZeroPadConfigs(simdHeapKernels(simdKernels(tf.backend())!))),
  ],
  ...(noNative
    ? []
    : ([['wasm, native', 'wasm', () => use(nativeMaxPoolZeroPadConfigs(load.binding!))]] as [
        string,
        'wasm',
        () => void,
      ][])),
];

describe('max pool over zero padding', () => {
  for (const [label, backend, setUp] of runs) {
    it.each(cases)(
      `${label}: the composite's values and gradient bit for bit, %j %j`,
      async (shape, attrs) => {
        await selectBackend(backend);
        setUp();
        const n = shape.reduce((a, b) => a * b, 1);
        const x = tf.tensor4d(ints(n, n), shape as [number, number, number, number]);
        const [top, bottom, left, right] = attrs.pads;
        const composite = (t: tf.Tensor4D) =>
          tf.maxPool(
            tf.pad(t, [
              [0, 0],
              [top, bottom],
              [left, right],
              [0, 0],
            ]),
            attrs.filterSize,
            attrs.strides,
            'valid',
          );
        const y = composite(x);
        const dy = tf.tensor(ints(y.size, 7), y.shape);
        const want = valueAndGrad(composite, x, dy);
        const got = valueAndGrad((t) => maxPoolZeroPad(t, attrs), x, dy);
        expect(got[0]).toEqual(want[0]);
        expect(got[1]).toEqual(want[1]);
        tf.dispose([x, y, dy]);
      },
    );
  }
});

function model(): tfl.LayersModel {
  const input = tfl.input({ shape: [9, 9, 2] });
  let h = tfl.layers
    .conv2d({ filters: 4, kernelSize: 3, kernelInitializer: tfl.initializers.randomNormal({ seed: 1 }) })
    .apply(input) as tfl.SymbolicTensor;
  h = tfl.layers.zeroPadding2d({ padding: 1 }).apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.maxPooling2d({ poolSize: 3, strides: 2 }).apply(h) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: h });
}

describe('fusePadMaxPool', () => {
  it('trains a model to the stock gradients with no PadV2 or MaxPool, and saves and infers as before', async () => {
    await selectBackend('wasm');
    const [stock, fused] = [model(), model()];
    fused.setWeights(stock.getWeights());
    const json = JSON.stringify(fused.toJSON(null, false));
    expect(fusePadMaxPool(fused)).toBe(1);
    expect(fusePadMaxPool(fused)).toBe(1);
    expect(JSON.stringify(fused.toJSON(null, false))).toBe(json);
    const x = tf.tensor(ints(2 * 9 * 9 * 2, 3), [2, 9, 9, 2]);
    const grads = (m: tfl.LayersModel) => {
      const vars = m.trainableWeights.map((w) => (w as unknown as { read(): tf.Variable }).read());
      const { result: r, kernels } = recordKernels(() =>
        tf.variableGrads(
          () => tf.sum(tf.square(m.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar,
          vars,
        ),
      );
      const g = vars.map((v) => bits(r.grads[v.name]!));
      tf.dispose([r.value, ...Object.values(r.grads)]);
      return { g, kernels };
    };
    const [a, b] = [grads(stock), grads(fused)];
    expect(b.g).toEqual(a.g);
    expect(a.kernels).toContain('PadV2');
    expect(b.kernels).not.toContain('PadV2');
    expect(b.kernels).not.toContain('MaxPool');
    expect(b.kernels).toContain('DdpMaxPoolZeroPad');
    expect(bits(fused.predict(x) as tf.Tensor)).toEqual(bits(stock.predict(x) as tf.Tensor));
  });
});
