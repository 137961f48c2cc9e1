// Shape-only saves: the same gradients, and a concat's or an add's input no longer held for the
// backward pass once the forward pass is done with it.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend/select-backend';
import { wasmTensorBytes } from '../backend/wasm-malloc';
import { installShapeOnlySaves, uninstallShapeOnlySaves } from './shape-only-saves';

const N = 1 << 18; // 1 MiB of float32

/**
 * Gradients of Σ w·reshape(concat(pad(x − c), a + b)) with respect to x, a, b and c, and the tensor
 * bytes held when the backward pass starts. The inner ops run in a tidy, as inside a layer's call:
 * what they make and no gradient saves is freed when it ends.
 */
function run(): { grads: number[][]; heldAtBackward: number } {
  const before = tf.memory().numTensors;
  const init = [[N / 2 - 2, 2], [N / 2, 2], [2], [1, 2]].map((shape, i) =>
    tf.randomNormal(shape, 0, 1, 'float32', i + 1),
  );
  const [x, a, b, c] = init.map((t, i) => tf.variable(t, true, 'xabc'[i])) as [
    tf.Variable,
    tf.Variable,
    tf.Variable,
    tf.Variable,
  ];
  tf.dispose(init);
  const w = tf.randomNormal([2 * N], 0, 1, 'float32', 5);
  let heldAtBackward = -1;
  const probe = tf.customGrad((t, save) => {
    void save;
    return {
      value: tf.clone(t as tf.Tensor),
      gradFunc: (dy) => {
        heldAtBackward = wasmTensorBytes()!.live;
        return dy as tf.Tensor;
      },
    };
  });
  const r = tf.variableGrads(() => {
    const joined = tf.tidy(() =>
      tf.concat([
        tf.pad(tf.sub(x, c), [
          [1, 1],
          [0, 0],
        ]),
        tf.add(a, b),
      ]),
    );
    return tf.sum(tf.mul(probe(tf.reshape(joined, [-1])), w));
  }, [x, a, b, c]);
  const grads = [x, a, b, c].map((v) => Array.from(r.grads[v.name]!.dataSync()));
  tf.dispose([r.value, ...Object.values(r.grads), x, a, b, c, w]);
  expect(tf.memory().numTensors).toBe(before);
  return { grads, heldAtBackward };
}

describe('shape-only saves', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });
  afterAll(() => installShapeOnlySaves());

  it('give the stock gradients of Concat, Add, Sub, PadV2 and Reshape, holding their inputs no longer', () => {
    uninstallShapeOnlySaves();
    const stock = run();
    installShapeOnlySaves();
    const lean = run();
    expect(lean.grads).toEqual(stock.grads);
    // Stock: the concat keeps the padded x − c and a + b (1 MiB each), the pad keeps x − c and the
    // add keeps a; with stand-ins only what the Mul and the probe keep remains.
    expect(stock.heldAtBackward - lean.heldAtBackward).toBeGreaterThanOrEqual(3 * 2 ** 20 - 64 * 1024);
  });
});
