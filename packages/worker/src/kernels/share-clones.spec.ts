// engine.clone without the Identity kernel (share-identity.ts, shareClones): the gradients are the
// stock clone's, no tensor or memory is left behind, and the saved tensors no longer dispatch.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend/select-backend';

/** Identity kernels run by `f` (counted at the engine). */
function identities<T>(f: () => T): { out: T; count: number } {
  const engine = tf.engine() as unknown as { runKernel: (...a: unknown[]) => unknown };
  const run = engine.runKernel;
  let count = 0;
  engine.runKernel = function (this: unknown, ...a: unknown[]) {
    if (a[0] === 'Identity') count++;
    return run.apply(this, a);
  };
  try {
    return { out: f(), count };
  } finally {
    engine.runKernel = run;
  }
}

describe.each(['wasm', 'cpu'])('shared clones on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend(backend as 'wasm' | 'cpu'); // registers the fast kernels, shareClones included
  });

  it('saves what a custom gradient needs without an Identity kernel, with the same gradients and no leak', () => {
    const x = tf.tensor2d([[1, -2, 3], [4, 5, -6]]);
    const w = tf.variable(tf.tensor2d([[0.5], [-1], [2]]), true, `share-clones-spec/${backend}`);
    // A custom op that saves its inputs (as the fused BatchNorm does): y = relu(x)·w, its own gradient.
    const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
      save([a, b]);
      return {
        value: tf.matMul(tf.relu(a), b),
        gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
          const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
          const d = dy as tf.Tensor2D;
          return [tf.mul(tf.matMul(d, sb, false, true), tf.step(sa)), tf.matMul(tf.relu(sa), d, true, false)];
        },
      };
    });
    const grads = () => tf.variableGrads(() => tf.sum(op(x, w)) as tf.Scalar, [w]);
    grads(); // warm-up: kernels and their caches
    const before = { tensors: tf.memory().numTensors, buffers: tf.memory().numDataBuffers };
    const { out, count } = identities(grads);
    expect(count).toBe(0);
    // d/dw Σ relu(x)·w = Σ over rows of relu(x): [5, 5, 3]
    expect(Array.from(out.grads[w.name]!.dataSync())).toEqual([5, 5, 3]);
    tf.dispose([out.value, ...Object.values(out.grads)]);
    expect({ tensors: tf.memory().numTensors, buffers: tf.memory().numDataBuffers }).toEqual(before);
    tf.dispose([x, w]);
  });
});
