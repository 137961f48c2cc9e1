// TFJS_DDP_WEBGPU_CONV=mma: the forward conv as a tiled implicit GEMM on subgroup matrices.
// - The shape it takes from an adapter's configs, and the errors where an adapter lacks them.
// - The matrix instructions compile on Dawn's null backend: conv2d-mma-null.spec.ts.
// - On lavapipe, which has no subgroup matrices, the same program with the tile product as f32 FMAs
//   against the naive float64 loops on the shape table: the im2col tile loads, the bounds of the
//   last tiles, the bias and the ReLU. Without a WebGPU adapter that part fails, unless
//   TFJS_DDP_SKIP_WEBGPU=1.
import * as tf from '@tensorflow/tfjs-core';
import { DdpError } from '@tfjs-ddp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateWebGpu, shutdownWebGpu } from '../../backend/webgpu';
import { CASES, WEBGPU_CASES, denseNetCases, randomArray, relErr, rng } from '../conv-cases';
import { convOutShape, refBackpropInput, refConv2d } from '../reference-conv';
import { convBackpropInputMma } from './conv2d-backprop-input-webgpu';
import { convForwardMma } from './conv2d-forward-webgpu';
import { deviceHasF16 } from './f16';
import { mmaSetup, pickMmaShape, type SubgroupMatrixConfig } from './subgroup-matrix';

const skip = process.env['TFJS_DDP_SKIP_WEBGPU'] === '1';

/** f16 inputs, f32 sums: the f16 forward conv's bound (conv2d-forward-f16-webgpu.spec.ts). */
const F16_TOLERANCE = 2e-3;

const cfg = (
  componentType: string,
  resultComponentType: string,
  M: number,
  N: number,
  K: number,
): SubgroupMatrixConfig => ({
  componentType,
  resultComponentType,
  M,
  N,
  K,
});

describe('subgroup matrix shapes', () => {
  it('takes the largest f16 → f32 shape that tiles the program, and none where none does', () => {
    expect(
      pickMmaShape([
        cfg('f16', 'f16', 16, 16, 16),
        cfg('f16', 'f32', 16, 8, 16),
        cfg('f16', 'f32', 16, 16, 16),
      ]),
    ).toEqual({
      M: 16,
      N: 16,
      K: 16,
    });
    expect(pickMmaShape([cfg('f32', 'f32', 8, 8, 8), cfg('f16', 'f32', 8, 8, 8)])).toEqual({
      M: 8,
      N: 8,
      K: 8,
    });
    // N = 32 does not fit a subgroup's 16 channels; u8 and f16 results are not ours.
    expect(
      pickMmaShape([
        cfg('f16', 'f32', 32, 32, 16),
        cfg('u8', 'u32', 16, 16, 32),
        cfg('f16', 'f16', 16, 16, 16),
      ]),
    ).toBeNull();
    expect(pickMmaShape([])).toBeNull();
  });

  it('names the adapter and what it lacks when TFJS_DDP_WEBGPU_CONV=mma cannot run on it', () => {
    const has = (names: string[]) => ({ has: (n: string) => names.includes(n) });
    const all = ['subgroups', 'shader-f16', 'chromium-experimental-subgroup-matrix'];
    const info = (configs: SubgroupMatrixConfig[], size = 32) => ({
      description: 'GPU X',
      subgroupMaxSize: size,
      subgroupMatrixConfigs: configs,
    });
    const error = (f: () => unknown): DdpError => {
      try {
        f();
      } catch (e) {
        return e as DdpError;
      }
      throw new Error('no error');
    };
    const lavapipe = error(() => mmaSetup({ features: has(['subgroups', 'shader-f16']), info: info([]) }));
    expect(lavapipe).toBeInstanceOf(DdpError);
    expect(lavapipe.code).toBe('E_GPU_UNAVAILABLE');
    expect(lavapipe.message).toMatch(/adapter GPU X does not offer chromium-experimental-subgroup-matrix/);
    expect(lavapipe.hint).toMatch(/unset TFJS_DDP_WEBGPU_CONV/);
    expect(
      error(() => mmaSetup({ features: has(all), info: info([cfg('f16', 'f16', 16, 16, 16)]) })).message,
    ).toMatch(/no f16 → f32 subgroup matrix .* \(it offers f16 → f16 16×16×16\)/);
    expect(
      error(() => mmaSetup({ features: has(all), info: info([cfg('f16', 'f32', 16, 16, 16)], 128) })).message,
    ).toMatch(/largest subgroup size of 128/);
    expect(mmaSetup({ features: has(all), info: info([cfg('f16', 'f32', 16, 16, 16)]) })).toEqual({
      shape: { M: 16, N: 16, K: 16 },
      workgroupSize: 128,
      features: all,
    });
  });
});

(skip ? describe.skip : describe)(
  skip
    ? 'the subgroup-matrix program with FMA products (skipped: TFJS_DDP_SKIP_WEBGPU=1)'
    : 'the subgroup-matrix program with FMA products, on lavapipe',
  () => {
    beforeAll(async () => {
      // Asked for on lavapipe, the matrices are refused, naming the adapter, before any device is made.
      await expect(
        activateWebGpu({ allowSoftware: true, env: { ...process.env, TFJS_DDP_WEBGPU_CONV: 'mma' } }),
      ).rejects.toThrow(
        /TFJS_DDP_WEBGPU_CONV=mma, but the WebGPU adapter .*(llvmpipe|lavapipe).* does not offer chromium-experimental-subgroup-matrix/,
      );
      await activateWebGpu({ allowSoftware: true });
      expect(deviceHasF16(tf.backend())).toBe(true);
    }, 60_000);
    afterAll(() => shutdownWebGpu());

    const worst = { fwd: 0, dx: 0 };
    afterAll(() =>
      process.stdout.write(
        `mma conv (fma products): worst relErr ${worst.fwd.toExponential(2)}, input gradient ${worst.dx.toExponential(2)}\n`,
      ),
    );

    const cases = [...CASES, ...WEBGPU_CASES, ...denseNetCases(2)].filter((c) => c.filter[3] % 4 === 0);
    it.each(cases.map((c, i) => [i, JSON.stringify(c), c] as const))(
      'case %i %s: within the f16 tolerance of the exact result, with and without bias and ReLU',
      async (_i, _name, c) => {
        const cr = rng(c.x.reduce((a, b) => a * 37 + b, 11));
        const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
        const [xs, ws, bs] = [
          randomArray(size(c.x), cr),
          randomArray(size(c.filter), cr),
          randomArray(c.filter[3], cr),
        ];
        const ref = refConv2d(c, xs, ws);
        const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad);
        const [x, w, bias] = [tf.tensor4d(xs, c.x), tf.tensor4d(ws, c.filter), tf.tensor1d(bs)];
        for (const fused of [false, true]) {
          const want = fused ? ref.map((v, i) => Math.max(v + bs[i % c.filter[3]]!, 0)) : ref;
          const y = tf.engine().makeTensorFromTensorInfo(
            convForwardMma(tf.backend(), info, [x, w, fused ? bias : undefined], fused, {
              shape: 'fma',
              workgroupSize: 128,
            }),
          );
          const got = await y.data();
          y.dispose();
          const e = relErr(got, want);
          worst.fwd = Math.max(worst.fwd, e);
          expect(e).toBeLessThan(F16_TOLERANCE);
        }
        tf.dispose([x, w, bias]);
      },
      30_000,
    );

    const gradCases = cases.filter((c) => c.x[3] % 4 === 0);
    it.each(gradCases.map((c, i) => [i, JSON.stringify(c), c] as const))(
      'input gradient, case %i %s: within the f16 tolerance of the exact result',
      async (_i, _name, c) => {
        const cr = rng(c.x.reduce((a, b) => a * 41 + b, 13));
        const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
        const yShape = convOutShape(c);
        const [ws, dys] = [randomArray(size(c.filter), cr), randomArray(size(yShape), cr)];
        const want = refBackpropInput(c, ws, dys);
        const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad);
        const [w, dy] = [tf.tensor4d(ws, c.filter), tf.tensor4d(dys, yShape)];
        const dx = tf
          .engine()
          .makeTensorFromTensorInfo(
            convBackpropInputMma(tf.backend(), info, dy, w, { shape: 'fma', workgroupSize: 128 }),
          );
        expect(dx.shape).toEqual(c.x);
        const e = relErr(await dx.data(), want);
        worst.dx = Math.max(worst.dx, e);
        expect(e).toBeLessThan(F16_TOLERANCE);
        tf.dispose([w, dy, dx]);
      },
      30_000,
    );
  },
);
