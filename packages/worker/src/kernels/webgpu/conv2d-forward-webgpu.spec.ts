// Our forward conv (Conv2D, FusedConv2D) on the webgpu backend (lavapipe in CI) against the naive
// loops, on the whole shape table plus the webgpu cases: with and without bias, linear and ReLU.
// Asserts which ran (ours: one dispatch and no tfjs program; the stock program where ours does not
// cover the layout), so that a silent fallback fails. Without a WebGPU adapter the suite fails,
// unless TFJS_DDP_SKIP_WEBGPU=1.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateWebGpu, shutdownWebGpu } from '../../backend/webgpu';
import { CASES, WEBGPU_CASES, randomArray, relErr, rng } from '../conv-cases';
import { registerFastKernels } from '../fast-kernels';
import { refConv2d } from '../reference-conv';
import { countDispatches, programsRun } from './count-dispatches';
import { convForward, webGpuConvChoice } from './conv2d-forward-webgpu';

const skip = process.env['TFJS_DDP_SKIP_WEBGPU'] === '1';

describe('TFJS_DDP_WEBGPU_CONV', () => {
  it('picks ours by default, tfjs, mma or mma-fma on request, and names the values it takes otherwise', () => {
    expect(webGpuConvChoice({})).toBe('ours');
    expect(webGpuConvChoice({ TFJS_DDP_WEBGPU_CONV: 'ours' })).toBe('ours');
    expect(webGpuConvChoice({ TFJS_DDP_WEBGPU_CONV: 'tfjs' })).toBe('tfjs');
    expect(webGpuConvChoice({ TFJS_DDP_WEBGPU_CONV: 'mma' })).toBe('mma');
    expect(webGpuConvChoice({ TFJS_DDP_WEBGPU_CONV: 'mma-fma' })).toBe('mma-fma');
    expect(() => webGpuConvChoice({ TFJS_DDP_WEBGPU_CONV: 'fast' })).toThrow(
      /TFJS_DDP_WEBGPU_CONV=fast: expected "ours".*"tfjs".*"mma".* or "mma-fma"/,
    );
  });
});

(skip ? describe.skip : describe)(
  skip ? 'webgpu forward conv (skipped: TFJS_DDP_SKIP_WEBGPU=1)' : 'webgpu forward conv',
  () => {
    beforeAll(async () => {
      await activateWebGpu({ allowSoftware: true });
      expect(registerFastKernels('webgpu').slice(0, 2)).toEqual(['Conv2D', 'FusedConv2D']);
    }, 60_000);
    afterAll(() => shutdownWebGpu());

    it('gives an empty batch an empty output without a dispatch (the stock kernel throws on it)', async () => {
      const y = tf.conv2d(
        tf.zeros([0, 5, 5, 4]) as tf.Tensor4D,
        tf.ones([3, 3, 4, 8]) as tf.Tensor4D,
        1,
        'same',
      );
      expect(y.shape).toEqual([0, 5, 5, 8]);
      expect((await y.data()).length).toBe(0);
    });

    const variants = [
      { name: 'Conv2D', bias: false, relu: false },
      { name: 'FusedConv2D with bias', bias: true, relu: false },
      { name: 'FusedConv2D with bias and ReLU', bias: true, relu: true },
    ];
    it.each([...CASES, ...WEBGPU_CASES].map((c, i) => [i, JSON.stringify(c), c] as const))(
      'case %i %s: ours where Co is a multiple of 4 (else the stock program), within 1e-4 of the naive loops',
      async (_i, _name, c) => {
        const cr = rng(c.x.reduce((a, b) => a * 37 + b, 11));
        const xs = randomArray(
          c.x.reduce((a, b) => a * b, 1),
          cr,
        );
        const ws = randomArray(
          c.filter.reduce((a, b) => a * b, 1),
          cr,
        );
        const bs = randomArray(c.filter[3], cr);
        const ref = refConv2d(c, xs, ws);
        const before = tf.memory().numTensors;
        const [x, w, bias] = [tf.tensor4d(xs, c.x), tf.tensor4d(ws, c.filter), tf.tensor1d(bs)];
        const ours = c.filter[3] % 4 === 0;
        for (const v of variants) {
          const run = () =>
            v.name === 'Conv2D'
              ? tf.conv2d(x, w, c.strides, c.pad)
              : tf.fused.conv2d({
                  x,
                  filter: w,
                  strides: c.strides,
                  pad: c.pad,
                  bias,
                  activation: v.relu ? 'relu' : 'linear',
                });
          const { result, programs } = await programsRun(() => countDispatches(run));
          if (ours) {
            expect(programs, v.name).toEqual([]);
            expect(result.dispatches, v.name).toBe(1);
          } else expect(programs.length, v.name).toBeGreaterThan(0);
          const want = ref.map((y, i) => {
            const b = v.bias ? y + bs[i % c.filter[3]]! : y;
            return v.relu ? Math.max(b, 0) : b;
          });
          expect(relErr(await result.result.data(), want), v.name).toBeLessThan(1e-4);
          result.result.dispose();
          // The 8-channel invocations that large layers get (fill 0: wherever Co allows).
          if (c.filter[3] % 8 === 0) {
            const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad);
            const ins = [x, w, v.bias ? bias : undefined] as [tf.Tensor, tf.Tensor, tf.Tensor | undefined];
            const wide = tf
              .engine()
              .makeTensorFromTensorInfo(convForward(tf.backend(), info, ins, v.relu, 0));
            expect(relErr(await wide.data(), want), `${v.name}, 8 channels`).toBeLessThan(1e-4);
            wide.dispose();
          }
        }
        tf.dispose([x, w, bias]);
        expect(tf.memory().numTensors).toBe(before);
      },
      30_000,
    );
  },
);
