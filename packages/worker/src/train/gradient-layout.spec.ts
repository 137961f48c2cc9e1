// The flat gradient buffer's layout: a variable the loss does not depend on (tf.variableGrads leaves
// it out of its map) gets zeros in its slot instead of failing the step.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend/select-backend';
import { GradientLayout } from './gradient-layout';

describe.each(['wasm', 'cpu'])('GradientLayout on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend(backend as 'wasm' | 'cpu');
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
