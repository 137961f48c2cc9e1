// TFJS_DDP_WEBGPU_CONV=mma: the forward conv as a tiled implicit GEMM on subgroup matrices.
// - The shape it takes from an adapter's configs, and the errors where an adapter lacks them:
//   subgroup-matrix.spec.ts.
// - The matrix instructions compile on Dawn's null backend: conv2d-mma-null.spec.ts.
// - On lavapipe, which has no subgroup matrices, the same program with the tile product as f32 FMAs
//   against the naive float64 loops on the shape table: the im2col tile loads, the bounds of the
//   last tiles, the bias and the ReLU. Without a WebGPU adapter that part fails, unless
//   TFJS_DDP_SKIP_WEBGPU=1.
import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateWebGpu, shutdownWebGpu } from '../../backend/webgpu';
import {
  CASES,
  WEBGPU_CASES,
  denseNetCases,
  forwardCaseArrays,
  randomArray,
  relErr,
  rng,
} from '../conv-cases';
import { convOutShape, refBackpropFilter, refBackpropInput, refConv2d } from '../reference-conv';
import { convBackpropFilterMma } from './conv2d-backprop-filter-webgpu';
import { convBackpropInputMma } from './conv2d-backprop-input-webgpu';
import { convForwardMma } from './conv2d-forward-webgpu';
import { deviceHasF16 } from './f16';
import { registerFastKernels } from '../fast-kernels';
import { recordAbsMax } from './abs-max-program';
import { countDispatches } from './count-dispatches';
import { rawRecorder } from './raw-dispatch';
import { setActiveMma } from './subgroup-matrix';

const skip = process.env['TFJS_DDP_SKIP_WEBGPU'] === '1';

/** f16 inputs, f32 sums: the f16 forward conv's bound (conv2d-forward-f16-webgpu.spec.ts). */
const F16_TOLERANCE = 2e-3;

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
      registerFastKernels('webgpu');
    }, 60_000);
    afterAll(() => shutdownWebGpu());

    it('max |t|: over several workgroups and their partials, NaN carried, the same in every run', async () => {
      const n = 4 * 256 * 8 * 5 + 12;
      const values = randomArray(n, rng(3));
      values[n - 7] = -9.5;
      const t = tf.tensor1d(values);
      const max = async (x: tf.Tensor) => {
        const m = tf.engine().makeTensorFromTensorInfo(recordAbsMax(tf.backend(), x));
        const v = (await m.data())[0]!;
        m.dispose();
        return v;
      };
      expect(await max(t)).toBe(9.5);
      values[17] = NaN;
      const withNaN = tf.tensor1d(values);
      expect(await max(withNaN)).toBeNaN();
      expect(await max(tf.zeros([8]))).toBe(0);
      tf.dispose([t, withNaN]);
    });

    it('input gradient of a tiny dy (1e-7 and below, where f16 has few bits or none): within the f16 tolerance, by its scale', async () => {
      const c = { x: [2, 12, 12, 32], filter: [3, 3, 32, 32], strides: [1, 1], pad: 'same' } as const;
      const r = rng(5);
      const yShape = convOutShape({ ...c, x: [...c.x], filter: [...c.filter], strides: [...c.strides] });
      const ws = randomArray(3 * 3 * 32 * 32, r);
      const dys = randomArray(
        yShape.reduce((a, b) => a * b, 1),
        r,
      ).map((v) => v * 1e-7);
      const want = refBackpropInput(
        { ...c, x: [...c.x], filter: [...c.filter], strides: [...c.strides] },
        ws,
        dys,
      );
      const info = tf.backend_util.computeConv2DInfo([...c.x], [...c.filter], [1, 1], 1, 'same');
      const [w, dy] = [tf.tensor4d(ws, [...c.filter]), tf.tensor4d(dys, yShape)];
      const dx = tf
        .engine()
        .makeTensorFromTensorInfo(
          convBackpropInputMma(tf.backend(), info, dy, w, { shape: 'fma', workgroupSize: 128 }),
        );
      const e = relErr(await dx.data(), want);
      process.stdout.write(`mma input gradient of dy × 1e-7: relErr ${e.toExponential(2)}\n`);
      expect(e).toBeLessThan(F16_TOLERANCE);
      tf.dispose([w, dy, dx]);
    });

    it("records max |dy| once for a layer's input and filter gradients on one dy, and anew for another dy", async () => {
      const info = tf.backend_util.computeConv2DInfo([2, 8, 8, 16], [3, 3, 16, 16], [1, 1], 1, 'same');
      const r = rng(11);
      const x = tf.tensor4d(randomArray(2 * 8 * 8 * 16, r), [2, 8, 8, 16]);
      const w = tf.tensor4d(randomArray(3 * 3 * 16 * 16, r), [3, 3, 16, 16]);
      const [dy, dy2] = [0, 1].map(() => tf.tensor4d(randomArray(2 * 8 * 8 * 16, r), [2, 8, 8, 16]));
      const setup = { shape: 'fma', workgroupSize: 128 } as const;
      const outs: TensorInfo[] = [];
      const run = (f: () => TensorInfo[]) => countDispatches(() => outs.push(...f()));
      // dX: max |dy| (2 dispatches) and the program; dW on the same dy: the program and its reduce.
      expect((await run(() => [convBackpropInputMma(tf.backend(), info, dy!, w, setup)])).dispatches).toBe(3);
      expect((await run(() => convBackpropFilterMma(tf.backend(), info, x, dy!, false, setup))).dispatches).toBe(2);
      expect((await run(() => convBackpropFilterMma(tf.backend(), info, x, dy2!, false, setup))).dispatches).toBe(4);
      tf.dispose([x, w, dy!, dy2!, ...outs.map((t) => tf.engine().makeTensorFromTensorInfo(t))]);
    });

    it("trains through the registered kernels: a net's loss and gradients as float32's within the f16 tolerance, with both programs run", async () => {
      const r = rng(99);
      const t = (shape: number[]) =>
        tf.tensor(
          randomArray(
            shape.reduce((a, b) => a * b, 1),
            r,
          ),
          shape,
        );
      const [x, w1, b1, w2] = [t([4, 12, 12, 8]), t([3, 3, 8, 16]), t([16]), t([3, 3, 16, 8])];
      // A conv with bias and ReLU, then a strided conv: their input gradients run through
      // Conv2DBackpropInput, the filter gradients through our float32 kernels.
      const loss = (x: tf.Tensor, w1: tf.Tensor, b1: tf.Tensor, w2: tf.Tensor) => {
        const h = tf.fused.conv2d({
          x: x as tf.Tensor4D,
          filter: w1 as tf.Tensor4D,
          strides: 1,
          pad: 'same',
          bias: b1,
          activation: 'relu',
        });
        return tf.mean(tf.square(tf.conv2d(h, w2 as tf.Tensor4D, 2, 'same')));
      };
      const run = async () => {
        const { value, grads } = tf.valueAndGrads(loss)([x, w1, b1, w2]);
        const out = { value: (await value.data())[0]!, grads: await Promise.all(grads.map((g) => g.data())) };
        tf.dispose([value, ...grads]);
        return out;
      };
      const single = await run();
      setActiveMma({ shape: 'fma', workgroupSize: 128, features: [] });
      try {
        // Our programs record through rawRecorder: their keys, while the mma run runs.
        const programs: string[] = [];
        const record = rawRecorder.record;
        rawRecorder.record = (backend, program, ...rest) => {
          programs.push(program.key);
          return record(backend, program, ...rest);
        };
        let half: Awaited<ReturnType<typeof run>>;
        try {
          half = await run();
        } finally {
          rawRecorder.record = record;
        }
        expect(programs.filter((p) => p.startsWith('tfjsDdpConv2DMma_')).sort()).toEqual([
          expect.stringMatching(/^tfjsDdpConv2DMma_dx_fma_/),
          expect.stringMatching(/^tfjsDdpConv2DMma_dx_fma_/),
          // Under a gradient tfjs unfuses the bias and ReLU (the spec of the forward conv checks them).
          expect.stringMatching(/^tfjsDdpConv2DMma_fwd_fma_/),
          expect.stringMatching(/^tfjsDdpConv2DMma_fwd_fma_/),
        ]);
        expect(programs.filter((p) => p.startsWith('tfjsDdpConv2DMmaFilter_'))).toHaveLength(2);
        const lossErr = Math.abs(half.value - single.value) / single.value;
        const gradErr = half.grads.map((g, i) => relErr(g, single.grads[i]!));
        process.stdout.write(
          `mma net: loss ${lossErr.toExponential(2)}, gradients ${gradErr.map((e) => e.toExponential(2)).join(' ')}\n`,
        );
        expect(lossErr).toBeGreaterThan(1e-7);
        expect(lossErr).toBeLessThan(F16_TOLERANCE);
        for (const e of gradErr) expect(e).toBeLessThan(F16_TOLERANCE);
      } finally {
        setActiveMma(null);
      }
      tf.dispose([x, w1, b1, w2]);
    });

    const worst = { fwd: 0, dx: 0, dw: 0 };
    afterAll(() =>
      process.stdout.write(
        `mma conv (fma products): worst relErr ${worst.fwd.toExponential(2)}, input gradient ${worst.dx.toExponential(2)}, filter and bias gradients ${worst.dw.toExponential(2)}\n`,
      ),
    );

    const cases = [...CASES, ...WEBGPU_CASES, ...denseNetCases(2)].filter((c) => c.filter[3] % 4 === 0);
    it.each(cases.map((c, i) => [i, JSON.stringify(c), c] as const))(
      'case %i %s: within the f16 tolerance of the exact result, with and without bias and ReLU',
      async (_i, _name, c) => {
        const { xs, ws, bs } = forwardCaseArrays(
          c,
          c.x.reduce((a, b) => a * 37 + b, 11),
        );
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

    const filterCases = cases.filter((c) => c.x[3] % 4 === 0);
    it.each(filterCases.map((c, i) => [i, JSON.stringify(c), c] as const))(
      'filter and bias gradients, case %i %s: within the f16 tolerance of the exact result, dy also at 1e-7',
      async (_i, _name, c) => {
        const r = rng(c.x.reduce((a, b) => a * 43 + b, 17));
        const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
        const yShape = convOutShape(c);
        const xs = randomArray(size(c.x), r);
        const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad);
        for (const magnitude of [1, 1e-7]) {
          const dys = randomArray(size(yShape), r).map((v) => v * magnitude);
          const wantW = refBackpropFilter(c, xs, dys);
          const wantB = Array.from({ length: c.filter[3] }, (_, co) => {
            let s = 0;
            for (let i = co; i < dys.length; i += c.filter[3]) s += dys[i]!;
            return s;
          });
          const [x, dy] = [tf.tensor4d(xs, c.x), tf.tensor4d(dys, yShape)];
          for (const bias of [false, true]) {
            const out = convBackpropFilterMma(tf.backend(), info, x, dy, bias, {
              shape: 'fma',
              workgroupSize: 128,
            });
            const [dw, db] = out.map((o) => tf.engine().makeTensorFromTensorInfo(o));
            expect(dw!.shape).toEqual(c.filter);
            const e = relErr(await dw!.data(), wantW);
            worst.dw = Math.max(worst.dw, e);
            expect(e).toBeLessThan(F16_TOLERANCE);
            // dB sums float32 dy: float32's error, not f16's.
            if (bias) expect(relErr(await db!.data(), wantB)).toBeLessThan(1e-5);
            tf.dispose([dw!, ...(db ? [db] : [])]);
          }
          tf.dispose([x, dy]);
        }
      },
      30_000,
    );
  },
);
