import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-layers' bundle registers tfjs-core's gradient functions (tfjs-core's own node bundle does not).
import '@tensorflow/tfjs-layers';
import { mulberry32 } from '@tfjs-ddp/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerFastKernels } from './fast-kernels';
import { type ConvCase, convOutShape, refBackpropFilter, refBackpropInput, refMaxPoolGrad } from './reference-conv';

/** Seeded uniform [0, 1) numbers, so every failing case can be replayed. */
function rng(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() / 4294967296;
}

function randomArray(n: number, r: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
}

/** max |a − b| / max |b|: the relative error of a whole tensor against the reference. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 1e-12;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}

const FIXED: ConvCase[] = [
  { x: [1, 5, 5, 3], filter: [3, 3, 3, 4], strides: [1, 1], pad: 'same' },
  { x: [2, 7, 6, 2], filter: [3, 3, 2, 3], strides: [2, 2], pad: 'same' },
  { x: [2, 7, 7, 3], filter: [3, 3, 3, 2], strides: [2, 2], pad: 'valid' },
  { x: [3, 6, 6, 4], filter: [1, 1, 4, 5], strides: [1, 1], pad: 'valid' },
  { x: [2, 7, 5, 4], filter: [1, 1, 4, 3], strides: [2, 2], pad: 'same' },
  { x: [2, 9, 9, 1], filter: [7, 7, 1, 4], strides: [2, 2], pad: [[0, 0], [3, 3], [3, 3], [0, 0]] },
  { x: [1, 8, 9, 2], filter: [2, 3, 2, 3], strides: [3, 2], pad: 'same' },
  { x: [1, 1, 1, 3], filter: [1, 1, 3, 2], strides: [1, 1], pad: 'valid' },
  { x: [2, 4, 4, 2], filter: [4, 4, 2, 3], strides: [1, 1], pad: 'valid' },
];

function randomCase(r: () => number): ConvCase {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const K = pick([1, 2, 3, 5]);
  const H = K + Math.floor(r() * 8);
  const W = K + Math.floor(r() * 8);
  const stride = pick([1, 1, 2, 3]);
  const pad = pick(['same', 'valid'] as const);
  return {
    x: [pick([1, 2, 3]), H, W, 1 + Math.floor(r() * 5)],
    filter: [K, K, 0, 1 + Math.floor(r() * 5)],
    strides: [stride, stride],
    pad,
  };
}

const r = rng(20261125);
const CASES: ConvCase[] = [...FIXED, ...Array.from({ length: 30 }, () => randomCase(r))].map((c) => ({
  ...c,
  filter: [c.filter[0], c.filter[1], c.x[3], c.filter[3]],
}));

describe.each(['wasm', 'cpu'])('fast conv gradient kernels on %s', (backend) => {
  beforeAll(async () => {
    await tf.setBackend(backend);
    await tf.ready();
    registerFastKernels(backend);
  });

  it.each(CASES.map((c, i) => [i, JSON.stringify(c), c] as const))(
    'case %i %s: Conv2DBackpropFilter and Conv2DBackpropInput match the naive loops within 1e-4',
    (_i, _name, c) => {
      const cr = rng(c.x.reduce((a, b) => a * 31 + b, 7));
      const xs = randomArray(c.x.reduce((a, b) => a * b, 1), cr);
      const ws = randomArray(c.filter.reduce((a, b) => a * b, 1), cr);
      const dyShape = convOutShape(c);
      const dys = randomArray(dyShape.reduce((a, b) => a * b, 1), cr);
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const x = tf.tensor4d(xs, c.x);
        const w = tf.tensor4d(ws, c.filter);
        const dy = tf.tensor4d(dys, dyShape);
        const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC' } as unknown as tf.NamedAttrMap;
        const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: c.filter }) as tf.Tensor;
        const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: c.x }) as tf.Tensor;
        expect(dw.shape).toEqual(c.filter);
        expect(dx.shape).toEqual(c.x);
        expect(relErr(dw.dataSync(), refBackpropFilter(c, xs, dys))).toBeLessThan(1e-4);
        expect(relErr(dx.dataSync(), refBackpropInput(c, ws, dys))).toBeLessThan(1e-4);
      });
      expect(tf.memory().numTensors).toBe(before);
    },
  );

  it.each([
    [[2, 9, 9, 3], 3, 2, 'same'],
    [[1, 50, 50, 4], 3, 2, 'valid'],
    [[2, 7, 6, 5], 2, 2, 'valid'],
    [[1, 5, 5, 2], 3, 1, 'same'],
    [[3, 8, 8, 1], 3, 2, 'same'],
  ] as const)('MaxPoolGrad on %j pool %i stride %i %s matches the naive loop', (shape, f, s, pad) => {
    const xShape = [...shape] as [number, number, number, number];
    const xs = randomArray(xShape.reduce((a, b) => a * b, 1), rng(f * 10 + s));
    const x = tf.tensor4d(xs, xShape);
    const before = tf.memory().numTensors;
    const [dx] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, f, s, pad), 1.5)))([x]);
    const y = tf.maxPool(x, f, s, pad);
    const ref = refMaxPoolGrad(xShape, xs, new Float32Array(y.size).fill(1.5), f, s, pad);
    expect(relErr(dx!.dataSync(), ref)).toBeLessThan(1e-6);
    tf.dispose([dx!, y]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('autodiff of conv2d uses the registered kernels and agrees with the naive gradient', () => {
    const c: ConvCase = { x: [2, 6, 6, 3], filter: [3, 3, 3, 4], strides: [1, 1], pad: 'same' };
    const cr = rng(5);
    const xs = randomArray(2 * 6 * 6 * 3, cr);
    const ws = randomArray(3 * 3 * 3 * 4, cr);
    const x = tf.tensor4d(xs, c.x);
    const w = tf.tensor4d(ws, c.filter);
    // d/dw Σ conv(x, w) = backprop-filter with dy = 1.
    const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')))([x, w]);
    const ones = new Float32Array(convOutShape(c).reduce((a, b) => a * b, 1)).fill(1);
    expect(relErr(gw!.dataSync(), refBackpropFilter(c, xs, ones))).toBeLessThan(1e-4);
    expect(relErr(gx!.dataSync(), refBackpropInput(c, ws, ones))).toBeLessThan(1e-4);
    tf.dispose([x, w, gx!, gw!]);
  });
});
