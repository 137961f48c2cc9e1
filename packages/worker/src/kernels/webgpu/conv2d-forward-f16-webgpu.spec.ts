// TFJS_DDP_WEBGPU_F16=1: our forward conv in half precision on a device with shader-f16 (lavapipe
// offers it) against the naive float64 loops and against our float32 program, on the whole shape
// table and the seed DenseNet's layers. The tolerance asserted here is the one docs/kernels.md
// states. Without a WebGPU adapter the suite fails, unless TFJS_DDP_SKIP_WEBGPU=1.
import * as tf from '@tensorflow/tfjs-core';
import { DdpError } from '@tfjs-ddp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateWebGpu, shutdownWebGpu } from '../../backend/webgpu';
import { CASES, WEBGPU_CASES, denseNetCases, forwardCaseArrays, relErr } from '../conv-cases';
import { refConv2d } from '../reference-conv';
import { conv2dForwardProgram } from './conv2d-forward-program';
import { convForward } from './conv2d-forward-webgpu';
import { deviceHasF16, f16Features, webGpuF16Choice } from './f16';

const skip = process.env['TFJS_DDP_SKIP_WEBGPU'] === '1';

/** The f16 program's bound on relErr to the exact result (docs/kernels.md, "webgpu: f16"). */
const F16_TOLERANCE = 2e-3;

describe('TFJS_DDP_WEBGPU_F16', () => {
  it('is off unless set to 1, and names the values it takes otherwise', () => {
    expect(webGpuF16Choice({})).toBe(false);
    expect(webGpuF16Choice({ TFJS_DDP_WEBGPU_F16: '' })).toBe(false);
    expect(webGpuF16Choice({ TFJS_DDP_WEBGPU_F16: '0' })).toBe(false);
    expect(webGpuF16Choice({ TFJS_DDP_WEBGPU_F16: '1' })).toBe(true);
    expect(() => webGpuF16Choice({ TFJS_DDP_WEBGPU_F16: 'yes' })).toThrow(
      /TFJS_DDP_WEBGPU_F16=yes: expected 1 .* or 0/,
    );
  });

  it('asks the device for shader-f16 where the adapter offers it, and names the adapter that lacks it when chosen', () => {
    const adapter = (shaderF16: boolean, description = 'a') => ({ shaderF16, description });
    const need = 'TFJS_DDP_WEBGPU_F16=1';
    expect(f16Features(null, adapter(false))).toEqual([]);
    expect(f16Features(null, adapter(true))).toEqual(['shader-f16']);
    expect(f16Features(need, adapter(true))).toEqual(['shader-f16']);
    let err: unknown;
    try {
      f16Features(need, adapter(false, 'NVIDIA Foo'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DdpError);
    expect((err as DdpError).code).toBe('E_GPU_UNAVAILABLE');
    expect((err as DdpError).message).toMatch(/adapter NVIDIA Foo does not offer shader-f16/);
    // What needs it is named, and what to unset.
    expect((err as DdpError).message).toMatch(/E_GPU_UNAVAILABLE: TFJS_DDP_WEBGPU_F16=1, but/);
    expect((err as DdpError).hint).toBe('unset TFJS_DDP_WEBGPU_F16 to train in float32 on it');
    expect(() => f16Features('TFJS_DDP_WEBGPU_CONV=mma-fma', adapter(false))).toThrow(
      /E_GPU_UNAVAILABLE: TFJS_DDP_WEBGPU_CONV=mma-fma, but the WebGPU adapter a does not offer shader-f16; unset TFJS_DDP_WEBGPU_CONV /,
    );
  });

  it('compiles to a program of its own that enables f16 and accumulates in f32', () => {
    const info = tf.backend_util.computeConv2DInfo([2, 8, 8, 16], [3, 3, 16, 32], [1, 1], 1, 'same');
    const f32 = conv2dForwardProgram(info, { bias: true, relu: true });
    const f16 = conv2dForwardProgram(info, { bias: true, relu: true, f16: true });
    expect(f16.program.key).not.toBe(f32.program.key);
    expect(f16.program.code()).toMatch(/^enable f16;/);
    expect(f16.program.code()).toMatch(/var a0_0 = vec4<f32>/);
    expect(f32.program.code()).not.toMatch(/f16/);
  });
});

(skip ? describe.skip : describe)(
  skip ? 'webgpu forward conv in f16 (skipped: TFJS_DDP_SKIP_WEBGPU=1)' : 'webgpu forward conv in f16',
  () => {
    beforeAll(async () => {
      await activateWebGpu({ allowSoftware: true });
      expect(deviceHasF16(tf.backend())).toBe(true);
    }, 60_000);
    afterAll(() => shutdownWebGpu());

    const worst = { f16: 0, f32: 0 };
    afterAll(() => {
      // What docs/kernels.md quotes: the largest errors over the table, printed with the spec's output.
      process.stdout.write(
        `f16 conv: worst relErr ${worst.f16.toExponential(2)} (f32: ${worst.f32.toExponential(2)})\n`,
      );
    });

    const cases = [...CASES, ...WEBGPU_CASES, ...denseNetCases(2)].filter((c) => c.filter[3] % 4 === 0);
    it.each(cases.map((c, i) => [i, JSON.stringify(c), c] as const))(
      'case %i %s: within the f16 tolerance of the exact result, and not float32 in disguise',
      async (_i, _name, c) => {
        const { xs, ws, bs } = forwardCaseArrays(c, c.x.reduce((a, b) => a * 31 + b, 5));
        const ref = refConv2d(c, xs, ws);
        const want = ref.map((y, i) => Math.max(y + bs[i % c.filter[3]]!, 0));
        const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad);
        const [x, w, bias] = [tf.tensor4d(xs, c.x), tf.tensor4d(ws, c.filter), tf.tensor1d(bs)];
        const run = async (f16: boolean) => {
          const y = tf
            .engine()
            .makeTensorFromTensorInfo(convForward(tf.backend(), info, [x, w, bias], true, undefined, f16));
          const v = await y.data();
          y.dispose();
          return v;
        };
        const [half, single] = [await run(true), await run(false)];
        const [e16, e32] = [relErr(half, want), relErr(single, want)];
        worst.f16 = Math.max(worst.f16, e16);
        worst.f32 = Math.max(worst.f32, e32);
        expect(e16).toBeLessThan(F16_TOLERANCE);
        expect(e32).toBeLessThan(1e-4);
        // Rounding x and W to 11 bits moves the result by far more than float32's summation order.
        expect(relErr(half, single)).toBeGreaterThan(1e-5);
        tf.dispose([x, w, bias]);
      },
      30_000,
    );
  },
);
