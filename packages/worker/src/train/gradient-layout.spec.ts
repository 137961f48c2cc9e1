// The flat gradient buffer's layout: a variable the loss does not depend on (tf.variableGrads leaves
// it out of its map) gets zeros in its slot instead of failing the step. On webgpu the gradients are
// read in one round trip (kernels/webgpu/packed-read.ts), tensors still on the host included. Without
// a WebGPU adapter the webgpu suite fails, unless TFJS_DDP_SKIP_WEBGPU=1.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend/select-backend';
import { shutdownWebGpu } from '../backend/webgpu';
import { readPacked } from '../kernels/webgpu/packed-read';
import { GradientLayout } from './gradient-layout';

const backends = ['wasm', 'cpu', ...(process.env['TFJS_DDP_SKIP_WEBGPU'] === '1' ? [] : ['webgpu'])];

describe.each(backends)('GradientLayout on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend(backend as 'wasm' | 'cpu' | 'webgpu');
  }, 60_000);
  afterAll(() => shutdownWebGpu());

  it('reads gradients on the device and on the host, and extras of either dtype, in one flatten', async () => {
    const a = tf.variable(tf.tensor1d([1, 2, 3]), true, `layout-spec/${backend}/a`);
    const b = tf.variable(tf.tensor2d([[4], [5]]), true, `layout-spec/${backend}/b`);
    const layout = new GradientLayout([a, b]);
    // A gradient computed by a kernel (on the GPU, on webgpu) and one made from values (left on
    // the host until something uploads it); a float32 and an int32 extra.
    const onDevice = tf.mul(a, 2);
    const onHost = tf.tensor2d([[0.5], [-0.25]]);
    const extras = [tf.scalar(1.5), tf.scalar(7, 'int32')];
    // Packed on webgpu only: elsewhere the caller reads another way.
    const probe = readPacked([onDevice], () => undefined);
    expect(probe === null).toBe(backend !== 'webgpu');
    await probe;
    const out = Float32Array.from([1, 1, 1, 1, 1]);
    const read = await layout.flatten({ [a.name]: onDevice, [b.name]: onHost }, out, true, extras);
    expect(Array.from(out)).toEqual([3, 5, 7, 1.5, 0.75]);
    expect(read).toEqual([1.5, 7]);
    await layout.flatten({ [a.name]: onDevice, [b.name]: onHost }, out, false);
    expect(Array.from(out)).toEqual([2, 4, 6, 0.5, -0.25]);
    tf.dispose([onDevice, onHost, ...extras, a, b]);
  });

  it('adds a zero gradient for a variable the loss does not use, and keeps every offset', async () => {
    const used = tf.variable(tf.tensor1d([1, 2]), true, `layout-spec/${backend}/used`);
    const unused = tf.variable(tf.tensor2d([[3, 4, 5]]), true, `layout-spec/${backend}/unused`);
    const last = tf.variable(tf.scalar(6), true, `layout-spec/${backend}/last`);
    const layout = new GradientLayout([used, unused, last]);
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.add(tf.mul(used, 3), tf.mul(last, 2))) as tf.Scalar,
      [used, unused, last],
    );
    expect(Object.keys(grads).sort()).toEqual([`layout-spec/${backend}/last`, `layout-spec/${backend}/used`]);
    const out = Float32Array.from([10, 10, 10, 10, 10, 10]);
    const [loss] = await layout.flatten(grads, out, true, [value]);
    // last is broadcast over both elements of used: its gradient is 2 + 2.
    expect(Array.from(out)).toEqual([13, 13, 10, 10, 10, 14]);
    expect(loss).toBe(3 * 1 + 12 + (3 * 2 + 12));
    // Set instead of add: the unused slot is zeroed.
    await layout.flatten(grads, out, false);
    expect(Array.from(out)).toEqual([3, 3, 0, 0, 0, 4]);
    tf.dispose([value, ...Object.values(grads), used, unused, last]);
  });
});
