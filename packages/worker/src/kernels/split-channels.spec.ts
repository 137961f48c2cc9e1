// The native channel split and slice against the wasm backend's own SplitV and Slice: uneven sizes,
// a size of zero, 1-D to 4-D tensors, slices on every axis, and what they leave to the stock kernels;
// and the native MaxPoolGrad against the JS loop (itself checked against the naive loop).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { getKernel } from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { dnnlForSpecs } from './dnnl/dnnl-test-gate';
import { makeMaxPoolGrad, nativeMaxPoolGradConfig } from './max-pool-grad';
import { nativeConcatConfig, nativeSliceConfig, nativeSplitVConfig } from './split-channels';

const { load, skip } = dnnlForSpecs('split-channels.spec');

describe.skipIf(skip)('SplitV along the channels on the native addon', () => {
  let native: ReturnType<typeof nativeSplitVConfig>;
  beforeAll(async () => {
    expect(load.binding, `CI needs the oneDNN addon: ${load.why}`).toBeDefined();
    await tf.setBackend('wasm');
    await tf.ready();
    native = nativeSplitVConfig(load.binding!);
  });

  /** Runs SplitV with the native kernel and with the one registered now (the stock one, here). */
  function both(x: tf.Tensor, sizes: number[], axis: number): [number[][], number[][]] {
    const stock = getKernel('SplitV', 'wasm')!;
    const backend = tf.backend();
    const run = (f: typeof stock.kernelFunc) =>
      (f({ inputs: { x }, backend, attrs: { numOrSizeSplits: sizes, axis } }) as tf.TensorInfo[]).map((t) => {
        const out = tf.engine().makeTensorFromTensorInfo(t);
        const v = Array.from(out.dataSync());
        out.dispose();
        return v;
      });
    return [run(native.kernelFunc), run(stock.kernelFunc)];
  }

  it.each([
    [
      [4, 3, 5, 7],
      [2, 0, 5],
    ],
    [
      [2, 6, 6, 96],
      [64, 32],
    ],
    [
      [9, 10],
      [1, 3, 6],
    ],
  ])('shape %j into %j along the last axis gives the stock kernel’s tensors', (shape, sizes) => {
    const x = tf.randomNormal(shape, 0, 1, 'float32', 5);
    const [mine, theirs] = both(x, sizes, -1);
    expect(mine.map((v) => v.length)).toEqual(sizes.map((s) => (x.size / shape[shape.length - 1]!) * s));
    expect(mine).toEqual(theirs);
    x.dispose();
  });

  it('leaves a split along another axis to the kernel it replaced', () => {
    const x = tf.randomNormal([4, 6, 3], 0, 1, 'float32', 6);
    const [mine, theirs] = both(x, [2, 4], 1);
    expect(mine).toEqual(theirs);
  });

  it.each([
    [
      [2, 7, 9, 5],
      [0, 1, 1, 0],
      [2, 5, 7, 5],
    ], // the padding's gradient: H and W, whole channels
    [
      [2, 7, 9, 5],
      [1, 2, 3, 1],
      [1, 3, 4, 3],
    ], // every axis
    [
      [6, 8],
      [2, 3],
      [-1, 4],
    ], // 2-D, size -1
    [[10], [4], [6]],
  ])('Slice of %j from %j, size %j, gives the stock kernel’s tensor', (shape, begin, size) => {
    const slice = nativeSliceConfig(load.binding!);
    const stock = getKernel('Slice', 'wasm')!;
    const x = tf.randomNormal(shape, 0, 1, 'float32', 8);
    const run = (f: typeof stock.kernelFunc) => {
      const out = tf
        .engine()
        .makeTensorFromTensorInfo(
          f({ inputs: { x }, backend: tf.backend(), attrs: { begin, size } }) as tf.TensorInfo,
        );
      const r = { shape: out.shape, values: Array.from(out.dataSync()) };
      out.dispose();
      return r;
    };
    expect(run(slice.kernelFunc)).toEqual(run(stock.kernelFunc));
    x.dispose();
  });

  it.each([
    [[2, 9, 9, 3], 3, 2, 'same'],
    [[1, 8, 7, 5], 2, 2, 'valid'],
    [[2, 6, 6, 4], 3, 1, 'same'],
  ] as const)(
    'MaxPoolGrad on %j pool %i stride %i %s gives the JS loop’s gradient, ties included',
    (shape, f, st, pad) => {
      // Values on a coarse grid: windows hold ties, which go to the first maximum.
      const x = tf.round(tf.mul(tf.randomUniform([...shape], 0, 3, 'float32', 9), 1));
      const y = tf.maxPool(x as tf.Tensor4D, f, st, pad);
      const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 10);
      const attrs = { filterSize: f, strides: st, pad } as unknown as tf.NamedAttrMap;
      const run = (k: ReturnType<typeof makeMaxPoolGrad>) => {
        const out = tf
          .engine()
          .makeTensorFromTensorInfo(
            k({ inputs: { dy, input: x, output: y }, backend: tf.backend(), attrs }) as tf.TensorInfo,
          );
        const v = Array.from(out.dataSync());
        out.dispose();
        return v;
      };
      expect(run(nativeMaxPoolGradConfig(load.binding!).kernelFunc)).toEqual(run(makeMaxPoolGrad('wasm')));
    },
  );

  it.each([
    [
      [
        [2, 3, 4, 5],
        [2, 3, 4, 0],
        [2, 3, 4, 7],
      ],
      -1,
    ],
    [
      [
        [6, 2],
        [6, 9],
      ],
      1,
    ],
    [
      [
        [2, 3, 4],
        [2, 5, 4],
      ],
      1,
    ], // another axis: the kernel it replaced
  ])('Concat of %j along %i gives the stock kernel’s tensor', (shapes, axis) => {
    const concat = nativeConcatConfig(load.binding!);
    const stock = getKernel('Concat', 'wasm')!;
    const xs = shapes.map((s, i) => tf.randomNormal(s, 0, 1, 'float32', 20 + i));
    const run = (f: typeof stock.kernelFunc) => {
      const out = tf
        .engine()
        .makeTensorFromTensorInfo(
          f({
            inputs: xs as unknown as tf.NamedTensorInfoMap,
            backend: tf.backend(),
            attrs: { axis },
          }) as tf.TensorInfo,
        );
      const r = { shape: out.shape, values: Array.from(out.dataSync()) };
      out.dispose();
      return r;
    };
    expect(run(concat.kernelFunc)).toEqual(run(stock.kernelFunc));
    tf.dispose(xs);
  });
});
