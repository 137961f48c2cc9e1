// The moving statistics computed on the host against the kernels, bit for bit, by both rules.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend/select-backend';
import { movingStatistics, type MovingRule } from './moving-statistics';

const bits = (t: tf.Tensor) => Array.from(new Uint32Array((t.dataSync() as Float32Array).slice().buffer));

describe.each(['wasm', 'cpu'])('moving statistics on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend(backend as 'wasm' | 'cpu');
  });

  it.each([
    ['pytorch', 2304],
    ['pytorch', 1],
    ['tfjs', 2304],
  ] as [MovingRule, number][])('by the %s rule (n %i): the kernels’ values bit for bit', (rule, n) => {
    const r = (k: number) => Math.fround(Math.sin(k * 12.9898) * 43758.5453) % 1;
    const t = (off: number, pos: boolean) => tf.tensor1d(Float32Array.from({ length: 37 }, (_, k) => (pos ? Math.abs(r(k + off)) * 3 : r(k + off))));
    const [om, ov, bm, bv] = [t(0, false), t(100, true), t(200, false), t(300, true)];
    const host = movingStatistics(rule, om, ov, bm, bv, 0.9, n);
    // The kernels' path, as a device backend takes it: through tfjs ops on a scratch copy of the
    // inputs, with the host path out of the way.
    const kernels = tf.tidy(() => {
      const unbiased = rule === 'pytorch' && n > 1 ? tf.mul(bv, n / (n - 1)) : bv;
      return rule === 'pytorch'
        ? [tf.add(tf.mul(om, 0.9), tf.mul(bm, 1 - 0.9)), tf.add(tf.mul(ov, 0.9), tf.mul(unbiased, 1 - 0.9))]
        : [tf.sub(om, tf.mul(tf.sub(om, bm), 1 - 0.9)), tf.sub(ov, tf.mul(tf.sub(ov, bv), 1 - 0.9))];
    });
    expect(host.map(bits)).toEqual(kernels.map(bits));
    tf.dispose([om, ov, bm, bv, ...host, ...kernels]);
  });
});
