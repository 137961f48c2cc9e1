// The filter gradient in WebAssembly SIMD (conv.wat) against the naive loops on the shape table's
// geometries with output channels it covers (multiples of 8), random ones, and the DenseNet's
// layers; shapes it does not cover go to conv2d-backprop-filter.ts' kernel, with the same results.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { backend_util, getKernel, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CASES, denseNetCases, randomArray, relErr, rng } from '../conv-cases';
import { type ConvCase, convOutShape, refBackpropFilter } from '../reference-conv';
import { conv2DBackpropFilterSimdConfig, convFilterGradSimd } from './conv-filter-simd';

function data(c: ConvCase): { xs: Float32Array; dys: Float32Array } {
  const r = rng(c.x.reduce((a, b) => a * 31 + b, 11));
  const xs = randomArray(
    c.x.reduce((a, b) => a * b, 1),
    r,
  );
  const dys = randomArray(
    convOutShape(c).reduce((a, b) => a * b, 1),
    r,
  );
  return { xs, dys };
}

/** The table's geometries with 8, 16 or 24 output channels, and random ones with up to 9 input channels. */
function simdCases(): ConvCase[] {
  const r = rng(20261206);
  const withCo = (c: ConvCase, i: number): ConvCase => ({
    ...c,
    filter: [c.filter[0], c.filter[1], c.filter[2], 8 * (1 + (i % 3))],
  });
  const random = Array.from({ length: 12 }, (_, i): ConvCase => {
    const K = [1, 2, 3, 5][Math.floor(r() * 4)]!;
    const s = [1, 1, 2, 3][Math.floor(r() * 4)]!;
    const Ci = 1 + Math.floor(r() * 9);
    return {
      x: [1 + Math.floor(r() * 3), K + Math.floor(r() * 9), K + Math.floor(r() * 9), Ci],
      filter: [K, K, Ci, 8 * (1 + (i % 3))],
      strides: [s, s],
      pad: r() < 0.5 ? 'same' : 'valid',
    };
  });
  return [...CASES.map(withCo), ...random];
}

describe('conv.wat: the filter gradient in WebAssembly SIMD', () => {
  let before: ReturnType<typeof getKernel>;
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    before = getKernel('Conv2DBackpropFilter', 'wasm');
    if (before !== undefined) unregisterKernel('Conv2DBackpropFilter', 'wasm');
    registerKernel(conv2DBackpropFilterSimdConfig());
  });
  afterAll(() => {
    unregisterKernel('Conv2DBackpropFilter', 'wasm');
    if (before !== undefined) registerKernel(before);
  });

  const check = (c: ConvCase, simd: boolean) => {
    const { xs, dys } = data(c);
    const start = tf.memory().numTensors;
    tf.tidy(() => {
      const x = tf.tensor4d(xs, c.x);
      const dy = tf.tensor4d(dys, convOutShape(c));
      const info = backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad);
      const direct = convFilterGradSimd(tf.backend(), x, dy, info);
      expect(direct !== null, 'conv.wat applies').toBe(simd);
      if (direct !== null) tf.engine().makeTensorFromTensorInfo(direct).dispose();
      const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: c.filter };
      const dw = tf
        .engine()
        .runKernel('Conv2DBackpropFilter', { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
      expect(dw.shape).toEqual(c.filter);
      expect(relErr(dw.dataSync(), refBackpropFilter(c, xs, dys))).toBeLessThan(1e-4);
    });
    expect(tf.memory().numTensors).toBe(start);
  };

  it.each(simdCases().map((c, i) => [i, JSON.stringify(c), c] as const))(
    'case %i %s matches the naive loops within 1e-4',
    (_i, _s, c) => check(c, true),
  );

  it.each(denseNetCases(2).map((c) => [JSON.stringify(c), c] as const))(
    'the DenseNet layer %s matches within 1e-4',
    (_s, c) => check(c, true),
  );

  it.each(
    CASES.filter((c) => c.filter[3] % 8 !== 0)
      .slice(0, 6)
      .map((c) => [JSON.stringify(c), c] as const),
  )('%s (output channels not a multiple of 8) takes the other kernel, with the same results', (_s, c) =>
    check(c, false),
  );
});
