// The native channel split against the wasm backend's own SplitV: uneven sizes, a size of zero,
// 2-D and 4-D tensors, and the other axes, which it leaves to the stock kernel.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { getKernel } from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { dnnlForSpecs } from './dnnl/dnnl-test-gate';
import { nativeSplitVConfig } from './split-channels';

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
    [[4, 3, 5, 7], [2, 0, 5]],
    [[2, 6, 6, 96], [64, 32]],
    [[9, 10], [1, 3, 6]],
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
});
