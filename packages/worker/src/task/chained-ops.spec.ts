// Tensor methods on tfjs-core's Node bundle, which does not register them itself: users' code calls
// them, and so does tfjs-layers' orthogonal initializer, the default of every GRU and LSTM.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend/select-backend';
import { registerChainedOps } from './chained-ops';

describe('chained tensor methods', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
    registerChainedOps();
  });

  it('are there, and compute what the ops compute', async () => {
    const x = tf.tensor2d([
      [1, -2],
      [3, -4],
    ]);
    const m = x as unknown as Record<string, (...a: unknown[]) => tf.Tensor>;
    expect(Array.from(await m['flatten']!().data())).toEqual([1, -2, 3, -4]);
    expect(Array.from(await m['abs']!().data())).toEqual([1, 2, 3, 4]);
    expect(Array.from(await m['sum']!(1).data())).toEqual([-1, -1]);
    expect(m['toInt']!().dtype).toBe('int32');
    expect(m['concat']!(x, 0).shape).toEqual([4, 2]);
    x.dispose();
    expect(() => m['flatten']!()).toThrow(/disposed/);
    expect(registerChainedOps()).toBe(0);
  });

  it('let a GRU with its default (orthogonal) recurrent initializer build', () => {
    const model = tfl.sequential({
      layers: [tfl.layers.gru({ inputShape: [5, 2], units: 3 }), tfl.layers.dense({ units: 2 })],
    });
    expect((model.predict(tf.zeros([1, 5, 2])) as tf.Tensor).shape).toEqual([1, 2]);
  });
});
