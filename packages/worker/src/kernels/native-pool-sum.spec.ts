// The native AvgPoolGrad and bias-gradient Sum against the wasm backend's own kernels (and
// AvgPoolGrad in WebAssembly SIMD, for machines without the addon, likewise): pools with
// and without overlap or padding, Sum over the leading axes with and without keepDims (exactly
// float32(Σ in float64)), what they leave to the stock kernels; and Identity sharing its input.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { getKernel, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { dnnlForSpecs } from './dnnl/dnnl-test-gate';
import { nativeAvgPoolGradConfig, nativeSumConfig } from './native-pool-sum';
import { shareIdentityConfig } from './share-identity';
import { simdHeapKernels, simdKernels } from './simd/simd-kernels';

const { load, skip } = dnnlForSpecs('native-pool-sum.spec');

/** Runs a kernel function and reads its one output. */
function run(
  f: tf.KernelFunc,
  inputs: tf.NamedTensorInfoMap,
  attrs: object,
): { shape: number[]; values: number[] } {
  const info = f({ inputs, backend: tf.backend(), attrs: attrs as tf.NamedAttrMap }) as tf.TensorInfo;
  const out = tf.engine().makeTensorFromTensorInfo(info);
  const r = { shape: out.shape, values: Array.from(out.dataSync()) };
  out.dispose();
  return r;
}

const POOLS = [
  [[2, 8, 8, 6], 2, 2, 'valid'], // the DenseNet's transitions
  [[1, 7, 9, 5], 2, 2, 'same'], // odd sizes: padded windows at the edge
  [[2, 6, 6, 4], 3, 1, 'same'], // overlapping windows
  [[1, 9, 9, 3], 3, 2, 'valid'],
] as const;

describe('AvgPoolGrad in WebAssembly SIMD (pool.wat)', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
  });

  it.each(POOLS)('on %j pool %i stride %i %s gives the stock kernel’s gradient', (shape, f, st, pad) => {
    const x = tf.randomNormal([...shape], 0, 1, 'float32', 3);
    const dy = tf.randomNormal(tf.avgPool(x as tf.Tensor4D, f, st, pad).shape, 0, 1, 'float32', 4);
    const attrs = { filterSize: f, strides: st, pad };
    const simd = run(
      nativeAvgPoolGradConfig(simdHeapKernels(simdKernels(tf.backend())!)).kernelFunc,
      { dy, input: x },
      attrs,
    );
    const theirs = run(getKernel('AvgPoolGrad', 'wasm')!.kernelFunc, { dy, input: x }, attrs);
    expect(simd.shape).toEqual(theirs.shape);
    simd.values.forEach((v, i) => expect(v).toBeCloseTo(theirs.values[i]!, 5));
    tf.dispose([x, dy]);
  });
});

describe.skipIf(skip)('native pooling gradient and bias-gradient sum', () => {
  beforeAll(async () => {
    expect(load.binding, `CI needs the oneDNN addon: ${load.why}`).toBeDefined();
    await tf.setBackend('wasm');
    await tf.ready();
  });

  it.each(POOLS)(
    'AvgPoolGrad on %j pool %i stride %i %s gives the stock kernel’s gradient',
    (shape, f, st, pad) => {
      const x = tf.randomNormal([...shape], 0, 1, 'float32', 3);
      const dy = tf.randomNormal(tf.avgPool(x as tf.Tensor4D, f, st, pad).shape, 0, 1, 'float32', 4);
      const attrs = { filterSize: f, strides: st, pad };
      const mine = run(nativeAvgPoolGradConfig(load.binding!).kernelFunc, { dy, input: x }, attrs);
      const theirs = run(getKernel('AvgPoolGrad', 'wasm')!.kernelFunc, { dy, input: x }, attrs);
      expect(mine.shape).toEqual(theirs.shape);
      mine.values.forEach((v, i) => expect(v).toBeCloseTo(theirs.values[i]!, 5));
      tf.dispose([x, dy]);
    },
  );

  it.each([
    [[4, 5, 6, 7], [0, 1, 2], false],
    [[4, 5, 6, 7], [2, 0, 1], true], // any order; keepDims
    [[64, 10], [0], false], // a dense layer's bias
    [[3, 2, 9], [-3, -2], false],
  ] as const)(
    'Sum of %j over %j (keepDims %s) is float32 of the float64 sum per channel',
    (shape, axis, keepDims) => {
      const x = tf.randomNormal([...shape], 0, 3, 'float32', 7);
      const C = shape[shape.length - 1]!;
      const xs = x.dataSync();
      const expected = Array.from({ length: C }, (_, c) => {
        let s = 0;
        for (let r = 0; r < xs.length / C; r++) s += xs[r * C + c]!;
        return Math.fround(s);
      });
      const mine = run(nativeSumConfig(load.binding!).kernelFunc, { x }, { axis: [...axis], keepDims });
      expect(mine.values).toEqual(expected);
      const theirs = run(getKernel('Sum', 'wasm')!.kernelFunc, { x }, { axis: [...axis], keepDims });
      expect(mine.shape).toEqual(theirs.shape);
      mine.values.forEach((v, i) => expect(v).toBeCloseTo(theirs.values[i]!, 3));
      x.dispose();
    },
  );

  it.each([
    [[4, 5, 6], [1]], // not the leading axes
    [
      [4, 5, 6],
      [0, 1, 2],
    ], // every axis
    [[8], [0]], // rank 1
  ] as const)('leaves Sum of %j over %j to the kernel it replaced', (shape, axis) => {
    const x = tf.randomNormal([...shape], 0, 1, 'float32', 8);
    const attrs = { axis: [...axis], keepDims: false };
    expect(run(nativeSumConfig(load.binding!).kernelFunc, { x }, attrs)).toEqual(
      run(getKernel('Sum', 'wasm')!.kernelFunc, { x }, attrs),
    );
    x.dispose();
  });

  it('leaves an int32 Sum to the kernel it replaced', () => {
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32');
    const r = run(nativeSumConfig(load.binding!).kernelFunc, { x }, { axis: [0], keepDims: false });
    expect(r.values).toEqual([9, 12]);
    x.dispose();
  });
});

describe('Identity on wasm shares its input', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    const config = shareIdentityConfig();
    unregisterKernel('Identity', 'wasm');
    registerKernel(config);
  });

  it('a clone reads its input’s memory, outlives the input, and both are freed after both go', () => {
    const backend = tf.backend() as unknown as { getMemoryOffset(id: object): number; numDataIds(): number };
    const before = backend.numDataIds();
    const x = tf.tensor1d([1, 2, 3]);
    const y = tf.clone(x);
    expect(backend.getMemoryOffset(y.dataId)).toBe(backend.getMemoryOffset(x.dataId));
    expect(backend.numDataIds()).toBe(before + 1);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3]);
    y.dispose();
    expect(backend.numDataIds()).toBe(before);
  });

  it('the gradient through saved tensors is unchanged', () => {
    const x = tf.tensor1d([1, -2, 3]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.relu(t), t)))(x);
    expect(Array.from(g.dataSync())).toEqual([2, 0, 6]);
    tf.dispose([x, g]);
  });
});
