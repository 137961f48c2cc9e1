import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-layers' bundle registers tfjs-core's gradient functions (tfjs-core's own node bundle does not).
import '@tensorflow/tfjs-layers';
import { getKernel, registerKernel, unregisterKernel, type KernelFunc } from '@tensorflow/tfjs-core';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CASES, randomArray, relErr, rng } from './conv-cases';
import { registerFastKernels } from './fast-kernels';
import { type ConvCase, convOutShape, refBackpropFilter, refBackpropInput, refMaxPoolGrad } from './reference-conv';

const NAMES = ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'MaxPoolGrad'] as const;

/** Calls of each registered kernel, by `stock:` or `ours:` and kernel name, since the last reset. */
const calls = new Map<string, number>();

/** Re-registers kernel `name` of `backend` behind a wrapper that counts its calls under `tag`. */
function countCalls(name: string, backend: string, tag: 'stock' | 'ours'): KernelFunc | undefined {
  const k = getKernel(name, backend);
  if (k === undefined) return undefined;
  const kernelFunc: KernelFunc = (args) => {
    calls.set(`${tag}:${name}`, (calls.get(`${tag}:${name}`) ?? 0) + 1);
    return k.kernelFunc(args);
  };
  unregisterKernel(name, backend);
  registerKernel({ ...k, kernelFunc });
  return k.kernelFunc;
}

describe.each(['wasm', 'cpu'])('fast conv gradient kernels on %s', (backend) => {
  beforeAll(async () => {
    await tf.setBackend(backend);
    await tf.ready();
    // The stock kernels are wrapped first, so the fallbacks ours capture count as stock calls; then
    // ours are registered and wrapped: a test that ran the stock kernel, or fell back to it, fails.
    const stock = NAMES.map((n) => countCalls(n, backend, 'stock'));
    // The wasm kernels themselves (oneDNN's, which go over them on wasm, have dnnl/dnnl-kernels.spec.ts).
    expect(registerFastKernels(backend, { native: () => ({ binding: undefined, why: 'this spec tests the wasm kernels' }) })).toEqual([...NAMES, 'DdpMaxPoolZeroPad', 'DdpMaxPoolZeroPadGrad', 'DdpBatchNormTrain', 'DdpBatchNormGrad', 'DdpBatchNormTrainParts', 'DdpBatchNormGradParts', ...(backend === 'wasm' ? ['Identity', 'AvgPoolGrad', 'SplitV', 'Concat', 'Sum'] : [])]);
    NAMES.forEach((n, i) => expect(countCalls(n, backend, 'ours')).not.toBe(stock[i]));
  });
  beforeEach(() => calls.clear());

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
      expect(Object.fromEntries(calls)).toEqual({ 'ours:Conv2DBackpropFilter': 1, 'ours:Conv2DBackpropInput': 1 });
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
    expect(Object.fromEntries(calls)).toEqual({ 'ours:MaxPoolGrad': 1 });
    tf.dispose([dx!, y]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('the gradient through a layer that returns its input unchanged (a clone) is the upstream gradient, once', async () => {
    const tfl = await import('@tensorflow/tfjs-layers');
    // A linear activation returns its input: tfjs-layers clones it, which puts Identity on the tape.
    const model = tfl.sequential({ layers: [tfl.layers.activation({ activation: 'linear', inputShape: [3] })] });
    const x = tf.tensor2d([[1, -2, 3]]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(model.apply(t) as tf.Tensor, tf.tensor1d([2, 3, 4]))))(x);
    expect(Array.from(g.dataSync())).toEqual([2, 3, 4]);
    tf.dispose([x, g]);
    model.dispose();
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
    expect(Object.fromEntries(calls)).toEqual({ 'ours:Conv2DBackpropFilter': 1, 'ours:Conv2DBackpropInput': 1 });
    tf.dispose([x, w, gx!, gw!]);
  });
});
