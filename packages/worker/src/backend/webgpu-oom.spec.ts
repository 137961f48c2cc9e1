// What a replay after a GPU out-of-memory needs from the webgpu backend (lavapipe in CI): a micro-batch
// that fails in the middle of its work, with a compute pass still open, leaves a backend on which the
// next micro-batch runs and computes the right values. On the lent H200 the replay after a real OOM
// failed with "Parent encoder of [ComputePassEncoder] is already finished" when the pending commands
// were submitted without ending the pass, and on lavapipe the next micro-batch silently computed zeros.
// Here a tensor over the adapter's maxStorageBufferBindingSize (what withGpuErrorScopes also treats
// as an out-of-memory) fails the same way, mid-pass.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateWebGpu, activeAdapter, shutdownWebGpu } from './webgpu';
import { GPU_OUT_OF_MEMORY, withGpuErrorScopes } from './webgpu-scopes';

const skip = process.env['TFJS_DDP_SKIP_WEBGPU'] === '1';

(skip ? describe.skip : describe)(
  skip ? 'webgpu out-of-memory (skipped: TFJS_DDP_SKIP_WEBGPU=1)' : 'webgpu out-of-memory',
  () => {
    beforeAll(async () => {
      await activateWebGpu({ allowSoftware: true });
    }, 60_000);
    afterAll(() => shutdownWebGpu());

    it('fails a micro-batch that allocates past the limits mid-pass as an out-of-memory, and the next one computes', async () => {
      const max = activeAdapter()!.maxStorageBufferBindingSize;
      const a = tf.tensor1d([1, 2, 3, 4]);
      const failed = withGpuErrorScopes(async () => {
        // Two dispatches leave the compute pass open (tfjs submits every 15), then one whose output
        // is over the binding limit (128 MiB on lavapipe).
        // The micro-batch ends with the pass open: its last dispatch used the buffer that failed.
        const b = tf.tidy(() => tf.add(tf.mul(a, 2), 1));
        const huge = tf.tile(b, [Math.ceil(max / 16) + 1]);
        const s = tf.sum(huge);
        tf.dispose([b, huge]);
        return s;
      });
      await expect(failed).rejects.toThrow(new RegExp(`^${GPU_OUT_OF_MEMORY}: `));
      const next = await withGpuErrorScopes(async () => {
        const c = tf.tidy(() => tf.sum(tf.add(tf.mul(a, 3), 1)));
        const v = await c.data();
        c.dispose();
        return Array.from(v);
      });
      expect(next).toEqual([34]);
      a.dispose();
    });
  },
);
