// The native Add, Equal and PadV2 against the wasm backend's own kernels: same shapes, every kind of
// broadcast up to 4 axes, NaN, bool outputs, pads on every axis, and what they leave to the stock
// kernels (more axes, other dtypes).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { getKernel } from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { dnnlForSpecs } from './dnnl/dnnl-test-gate';
import { nativeAddConfig, nativeEqualConfig, nativePadConfig } from './native-elementwise';

const { load, skip } = dnnlForSpecs('native-elementwise.spec');

/** Runs a kernel function and reads its one output. */
function run(
  f: tf.KernelFunc,
  inputs: tf.NamedTensorInfoMap,
  attrs: object = {},
): { shape: number[]; dtype: string; values: number[] } {
  const info = f({ inputs, backend: tf.backend(), attrs: attrs as tf.NamedAttrMap }) as tf.TensorInfo;
  const out = tf.engine().makeTensorFromTensorInfo(info);
  const r = { shape: out.shape, dtype: out.dtype, values: Array.from(out.dataSync()) };
  out.dispose();
  return r;
}

describe.skipIf(skip)('native element-wise kernels', () => {
  beforeAll(async () => {
    expect(load.binding, `CI needs the oneDNN addon: ${load.why}`).toBeDefined();
    await tf.setBackend('wasm');
    await tf.ready();
  });

  const shapes: [number[], number[]][] = [
    [
      [2, 3, 4, 5],
      [2, 3, 4, 5],
    ],
    [[2, 3, 4, 5], [5]], // a bias
    [
      [2, 3, 4, 5],
      [1, 1, 1, 5],
    ],
    [
      [2, 3, 4, 5],
      [2, 1, 1, 5],
    ], // the global max pool's mask
    [
      [2, 1, 4, 1],
      [1, 3, 1, 5],
    ], // both broadcast
    [[5], [3, 5]],
    [[], [2, 3]], // a scalar
    [[7, 1], [1]],
  ];

  it.each(shapes)('Add of %j and %j gives the stock kernel’s sums', (sa, sb) => {
    const a = tf.randomNormal(sa, 0, 1, 'float32', 1);
    const b = tf.randomNormal(sb, 0, 1, 'float32', 2);
    const native = nativeAddConfig(load.binding!).kernelFunc;
    const mine = run(native, { a, b });
    expect(mine).toEqual(run(getKernel('Add', 'wasm')!.kernelFunc, { a, b }));
    expect(run(native, { a: b, b: a })).toEqual(mine);
    tf.dispose([a, b]);
  });

  it.each(shapes)('Equal of %j and %j gives the stock kernel’s bools', (sa, sb) => {
    // Values on a coarse grid, so that many are equal; NaN is equal to nothing.
    const grid = (shape: number[], seed: number) => tf.round(tf.randomUniform(shape, 0, 2, 'float32', seed));
    const a = tf.where(tf.equal(grid(sa, 3), 2), tf.fill(sa, NaN), grid(sa, 4));
    const b = grid(sb, 5);
    const mine = run(nativeEqualConfig(load.binding!).kernelFunc, { a, b });
    expect(mine.dtype).toBe('bool');
    expect(mine).toEqual(run(getKernel('Equal', 'wasm')!.kernelFunc, { a, b }));
    tf.dispose([a, b]);
  });

  it('leaves int32 and 5-axis operands to the kernels it replaced', () => {
    const i = tf.tensor1d([1, 2, 3], 'int32');
    expect(run(nativeAddConfig(load.binding!).kernelFunc, { a: i, b: i })).toMatchObject({
      dtype: 'int32',
      values: [2, 4, 6],
    });
    const f = tf.ones([1, 2, 1, 2, 2]);
    expect(run(nativeAddConfig(load.binding!).kernelFunc, { a: f, b: f })).toMatchObject({
      shape: [1, 2, 1, 2, 2],
      values: new Array(8).fill(2),
    });
    expect(run(nativeEqualConfig(load.binding!).kernelFunc, { a: f, b: f }).values).toEqual(
      new Array(8).fill(1),
    );
    tf.dispose([i, f]);
  });

  it.each([
    [
      [2, 5, 6, 1],
      [
        [0, 0],
        [3, 3],
        [3, 3],
        [0, 0],
      ],
      0,
    ], // the stem's image pad
    [
      [2, 4, 4, 3],
      [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0],
      ],
      0,
    ],
    [
      [2, 4, 4, 3],
      [
        [1, 0],
        [0, 2],
        [1, 0],
        [2, 1],
      ],
      -1.5,
    ], // every axis, another value
    [
      [3, 4],
      [
        [1, 2],
        [0, 3],
      ],
      7,
    ],
    [[5], [[2, 0]], 0],
  ] as const)(
    'PadV2 of %j by %j with %d gives the stock kernel’s tensor',
    (shape, paddings, constantValue) => {
      const x = tf.randomNormal([...shape], 0, 1, 'float32', 6);
      const attrs = { paddings: paddings.map((p) => [...p]), constantValue };
      const mine = run(nativePadConfig(load.binding!).kernelFunc, { x }, attrs);
      expect(mine).toEqual(run(getKernel('PadV2', 'wasm')!.kernelFunc, { x }, attrs));
      x.dispose();
    },
  );
});
