// profileGpuPrograms on lavapipe (which offers 'timestamp-query'): every dispatch of a conv
// layer's forward and gradients timed, tfjs' programs and ours (raw-dispatch.ts) alike, the same
// results as without the profile, and dispatching back to normal after it. Fails without a WebGPU
// adapter unless TFJS_DDP_SKIP_WEBGPU=1.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateWebGpu, shutdownWebGpu } from '../../backend/webgpu';
import { randomArray, rng } from '../conv-cases';
import { registerFastKernels } from '../fast-kernels';
import { countDispatches } from './count-dispatches';
import { profileGpuPrograms } from './gpu-profile';

const skip = process.env['TFJS_DDP_SKIP_WEBGPU'] === '1';

(skip ? describe.skip : describe)(
  skip ? 'GPU profile (skipped: TFJS_DDP_SKIP_WEBGPU=1)' : 'GPU profile',
  () => {
    beforeAll(async () => {
      await activateWebGpu({ allowSoftware: true });
      registerFastKernels('webgpu');
    }, 60_000);
    afterAll(() => shutdownWebGpu());

    it("times each dispatch by program, tfjs' and ours, without changing the results", async () => {
      const r = rng(3);
      const x = tf.tensor4d(randomArray(4 * 32 * 32 * 8, r), [4, 32, 32, 8]);
      const w = tf.variable(tf.tensor4d(randomArray(3 * 3 * 8 * 8, r), [3, 3, 8, 8]));
      const step = async () => {
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(tf.conv2d(x, w, 1, 'same'))), [w]);
        const out = [await value.data(), await grads[w.name]!.data()];
        tf.dispose([value, ...Object.values(grads)]);
        return out;
      };
      const plain = await countDispatches(step);
      let profiled: Float32Array[] = [];
      const profile = await profileGpuPrograms(async () => (profiled = (await step()) as Float32Array[]));
      expect(profile.timestamps).toBe(true);
      expect(profile.dispatches).toBe(plain.dispatches);
      expect(profile.programs.reduce((n, p) => n + p.dispatches, 0)).toBe(profile.dispatches);
      const names = profile.programs.map((p) => p.name);
      // The forward conv and the filter gradient (split over rows here) are ours; the square and
      // the sum tfjs' programs.
      expect(names.some((n) => n.startsWith('tfjsDdpConv2D_'))).toBe(true);
      expect(names.filter((n) => !n.startsWith('tfjsDdp')).length).toBeGreaterThan(0);
      expect(names.some((n) => n.startsWith('tfjsDdpConv2DBackpropFilter_4_4_false_true'))).toBe(true);
      expect(names.some((n) => n.startsWith('tfjsDdpConv2DBackpropFilterReduce'))).toBe(true);
      expect(profile.programs.every((p) => p.gpuMs >= 0)).toBe(true);
      expect(profile.gpuMs).toBeGreaterThan(0);
      expect(Array.from(profiled[0]!)).toEqual(Array.from((plain.result as Float32Array[])[0]!));
      expect(Array.from(profiled[1]!)).toEqual(Array.from((plain.result as Float32Array[])[1]!));
      // Back to plain dispatching: no timers, and a nested profile is refused while one runs.
      expect((tf.backend() as unknown as { activeTimers: unknown }).activeTimers).toBeNull();
      await expect(profileGpuPrograms(() => profileGpuPrograms(step))).rejects.toThrow(/already running/);
      expect((await countDispatches(step)).dispatches).toBe(plain.dispatches);
      tf.dispose([x, w]);
    }, 60_000);
  },
);
