// The webgpu BatchNorm (+ ReLU) training kernels against a float64 reference: forward (y, mean,
// biased variance, 1/σ) and backward (dx, dγ, dβ), with and without the ReLU, on the DenseNet's
// channel counts (vec4 paths), odd counts (scalar paths), a constant channel whose output is exactly
// zero (the ReLU's tie), and one tensor big enough that the element-wise dispatch folds into a
// second dimension. Also counts the GPU dispatches: three each way, none of them tfjs' programs.
// Without a WebGPU adapter the suite fails, unless TFJS_DDP_SKIP_WEBGPU=1.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateWebGpu, shutdownWebGpu } from '../../backend/webgpu';
import { batchNormTraining } from '../../model/fast-batch-norm';
import { installLeanBackprop } from '../../train/lean-backprop';
import { BN_GRAD, BN_GRAD_ACCUMULATES, BN_TRAIN } from '../batch-norm-relu';
import { randomArray, relErr, rng } from '../conv-cases';
import { registerFastKernels } from '../fast-kernels';
import { movingStatistics } from '../../model/moving-statistics';
import { recordKernels } from '../record-kernels';
import { countDispatches } from './count-dispatches';
import { rawRecorder } from './raw-dispatch';

const skip = process.env['TFJS_DDP_SKIP_WEBGPU'] === '1';

interface Reference {
  y: Float64Array;
  mean: Float64Array;
  variance: Float64Array;
  invStd: Float64Array;
  dx: Float64Array;
  dGamma: Float64Array;
  dBeta: Float64Array;
}

/** Float64 training-mode BatchNorm (+ ReLU) forward and backward. */
function reference(
  x: Float32Array,
  dy: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  C: number,
  eps: number,
  relu: boolean,
): Reference {
  const rows = x.length / C;
  const r: Reference = {
    y: new Float64Array(x.length),
    mean: new Float64Array(C),
    variance: new Float64Array(C),
    invStd: new Float64Array(C),
    dx: new Float64Array(x.length),
    dGamma: new Float64Array(C),
    dBeta: new Float64Array(C),
  };
  // Sums, then one division: a constant channel's mean is exactly its value.
  for (let i = 0; i < x.length; i++) r.mean[i % C]! += x[i]!;
  for (let c = 0; c < C; c++) r.mean[c]! /= rows;
  for (let i = 0; i < x.length; i++) r.variance[i % C]! += (x[i]! - r.mean[i % C]!) ** 2;
  for (let c = 0; c < C; c++) r.variance[c]! /= rows;
  for (let c = 0; c < C; c++) r.invStd[c] = 1 / Math.sqrt(r.variance[c]! + eps);
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = i % C;
    const v = gamma[c]! * (x[i]! - r.mean[c]!) * r.invStd[c]! + beta[c]!;
    r.y[i] = relu ? Math.max(v, 0) : v;
    g[i] = relu && !(r.y[i]! > 0) ? 0 : dy[i]!;
    r.dBeta[c]! += g[i]!;
    r.dGamma[c]! += g[i]! * (x[i]! - r.mean[c]!) * r.invStd[c]!;
  }
  for (let i = 0; i < x.length; i++) {
    const c = i % C;
    const xhat = (x[i]! - r.mean[c]!) * r.invStd[c]!;
    r.dx[i] = gamma[c]! * r.invStd[c]! * (g[i]! - r.dBeta[c]! / rows - (xhat * r.dGamma[c]!) / rows);
  }
  return r;
}

const SHAPES: [string, number[]][] = [
  ['dense block 0 (vec4)', [2, 8, 8, 64]],
  ['dense block 3 (vec4)', [2, 2, 2, 224]],
  ['odd channels (scalar)', [3, 5, 7, 5]],
  ['one channel, one row per image', [4, 1, 1, 1]],
  ['rank 2', [37, 12]],
];

(skip ? describe.skip : describe)(
  skip ? 'webgpu BatchNorm kernels (skipped: TFJS_DDP_SKIP_WEBGPU=1)' : 'webgpu BatchNorm kernels',
  () => {
    beforeAll(async () => {
      await activateWebGpu({ allowSoftware: true });
      expect(registerFastKernels('webgpu')).toEqual(expect.arrayContaining([BN_TRAIN, BN_GRAD]));
    }, 60_000);
    afterAll(() => shutdownWebGpu());

    describe.each([false, true])('relu %s', (relu) => {
      it.each(SHAPES)(
        '%s %j: forward and backward within 1e-4 of float64, three dispatches each',
        async (_name, shape) => {
          const C = shape[shape.length - 1]!;
          const size = shape.reduce((a, b) => a * b, 1);
          const r = rng(size + C);
          const xs = randomArray(size, r).map((v) => v * 3 + 0.5);
          // Channel 0 constant with β = 0: variance 0, y exactly 0 (the ReLU's tie at zero).
          for (let i = 0; i < size; i += C) xs[i] = 1.25;
          const dys = randomArray(size, r);
          const gs = randomArray(C, r).map((v) => v + 1.5);
          const bs = randomArray(C, r);
          bs[0] = 0;
          const ref = reference(xs, dys, gs, bs, C, 1e-5, relu);
          const before = tf.memory().numTensors;
          const [x, dy, gamma, beta] = [
            tf.tensor(xs, shape),
            tf.tensor(dys, shape),
            tf.tensor1d(gs),
            tf.tensor1d(bs),
          ];
          // Uploads outside the counted region: an upload is a copy, not a dispatch, but keep it clean.
          await Promise.all([x, dy, gamma, beta].map((t) => t.data()));
          const fwd = await countDispatches(
            () => tf.engine().runKernel(BN_TRAIN, { x, gamma, beta }, { epsilon: 1e-5, relu }) as tf.Tensor[],
          );
          const [y, mean, variance, invStd] = fwd.result as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
          const bwd = await countDispatches(
            () =>
              tf
                .engine()
                .runKernel(BN_GRAD, { dy, x, y: relu ? y : x, mean, invStd, gamma, beta }, { relu }) as tf.Tensor[],
          );
          const [dx, dGamma, dBeta] = bwd.result as [tf.Tensor, tf.Tensor, tf.Tensor];
          expect([fwd.dispatches, bwd.dispatches]).toEqual([3, 3]);
          expect(y.shape).toEqual(shape);
          expect(dx.shape).toEqual(shape);
          const got = await Promise.all([y, mean, variance, invStd, dx, dGamma, dBeta].map((t) => t.data()));
          const want = [ref.y, ref.mean, ref.variance, ref.invStd, ref.dx, ref.dGamma, ref.dBeta];
          const names = ['y', 'mean', 'variance', 'invStd', 'dx', 'dGamma', 'dBeta'];
          const errors = Object.fromEntries(names.map((n, k) => [n, relErr(got[k]!, want[k]!)]));
          for (const n of names) expect(errors[n], `${n}: ${JSON.stringify(errors)}`).toBeLessThan(1e-4);
          if (relu) for (let i = 0; i < size; i += C) expect(got[0]![i]).toBe(0);
          tf.dispose([x, dy, gamma, beta, y, mean, variance, invStd, dx, dGamma, dBeta]);
          expect(tf.memory().numTensors).toBe(before);
        },
        30_000,
      );
    });

    it("with acc, BN_GRAD returns dx + acc; through the op, a block input's two gradients meet without an Add", async () => {
      const shape = [2, 4, 4, 12];
      const size = 2 * 4 * 4 * 12;
      const r = rng(77);
      const [xs, dys, accs] = [randomArray(size, r), randomArray(size, r), randomArray(size, r)];
      const [gs, bs] = [randomArray(12, r), randomArray(12, r)];
      const ref = reference(xs, dys, gs, bs, 12, 1e-3, true);
      const [x, dy, acc, gamma, beta] = [
        tf.tensor(xs, shape),
        tf.tensor(dys, shape),
        tf.tensor(accs, shape),
        tf.tensor1d(gs),
        tf.tensor1d(bs),
      ];
      const [y, mean, , invStd] = tf
        .engine()
        .runKernel(BN_TRAIN, { x, gamma, beta }, { epsilon: 1e-3, relu: true }) as tf.Tensor[];
      const [dx] = tf
        .engine()
        .runKernel(
          BN_GRAD,
          { dy, x, y: y!, mean: mean!, invStd: invStd!, gamma, beta, acc },
          { relu: true },
        ) as tf.Tensor[];
      expect(
        relErr(
          await dx!.data(),
          ref.dx.map((v, i) => v + accs[i]!),
        ),
      ).toBeLessThan(1e-4);
      // f = Σ w·concat(x, bnrelu(x)) with the lean reverse pass: x's gradient is the concat's piece
      // plus the BatchNorm's dx, added in BN_GRAD's last pass when the backend accumulates.
      installLeanBackprop();
      const w = tf.tensor(randomArray(size * 2, r), [2, 4, 4, 24]);
      const f = (t: tf.Tensor) =>
        tf.sum(
          tf.mul(
            w,
            tf.concat([t, batchNormTraining(t, gamma as tf.Tensor1D, beta as tf.Tensor1D, 1e-3, true).y], 3),
          ),
        );
      const adds = async () => {
        const { result: g, kernels } = recordKernels(() => tf.grad(f)(x));
        return { g: await g.data(), adds: kernels.filter((k) => k === 'Add').length };
      };
      const fused = await adds();
      const accumulating = BN_GRAD_ACCUMULATES as Set<string>;
      accumulating.delete('webgpu');
      const plain = await adds().finally(() => accumulating.add('webgpu'));
      expect([fused.adds, plain.adds]).toEqual([0, 1]);
      expect(relErr(fused.g, plain.g)).toBeLessThan(1e-6);
    });

    it.each(['pytorch', 'tfjs'] as const)(
      'with the moving statistics (%s): their new values in the same dispatches, as movingStatistics gives them; a dispatch more where the device binds under 12 buffers',
      async (rule) => {
        const shape = [3, 5, 4, 8];
        const r = rng(rule.length);
        const x = tf.tensor(randomArray(3 * 5 * 4 * 8, r), shape);
        const [gamma, beta, om] = [
          tf.tensor1d(randomArray(8, r)),
          tf.tensor1d(randomArray(8, r)),
          tf.tensor1d(randomArray(8, r)),
        ];
        const ov = tf.tensor1d(randomArray(8, r).map((v) => Math.abs(v) + 0.1));
        const inputs = { x, gamma, beta, movingMean: om, movingVariance: ov };
        const attrs = { epsilon: 1e-3, relu: true, movingRule: rule, momentum: 0.9 };
        const runOnce = () =>
          countDispatches(
            () => tf.engine().runKernel(BN_TRAIN, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[],
          );
        const together = await runOnce();
        const limit = rawRecorder.storageBuffers;
        rawRecorder.storageBuffers = () => 8;
        const apart = await runOnce().finally(() => (rawRecorder.storageBuffers = limit));
        expect([together.dispatches, apart.dispatches]).toEqual([3, 4]);
        const [, mean, variance, , nm, nv] = together.result;
        const want = movingStatistics(rule, om, ov, mean!, variance!, 0.9, 60);
        for (const run of [together, apart]) {
          expect(run.result).toHaveLength(6);
          expect(relErr(await run.result[4]!.data(), (await want[0].data()) as Float32Array)).toBeLessThan(
            1e-6,
          );
          expect(relErr(await run.result[5]!.data(), (await want[1].data()) as Float32Array)).toBeLessThan(
            1e-6,
          );
        }
        expect(nm!.shape).toEqual([8]);
        expect(nv!.shape).toEqual([8]);
        tf.dispose([x, gamma, beta, om, ov, ...together.result, ...apart.result, ...want]);
      },
    );

    it('a tensor of over 65,535 × 64 × 4 elements: the element-wise dispatch folds into y and still covers every element', async () => {
      const shape = [1, 2049, 2048, 4];
      const C = 4;
      const size = 2049 * 2048 * 4;
      const xs = new Float32Array(size);
      // Channel c is the row number times (c + 1): known means and variances, every element distinct.
      for (let i = 0; i < size; i++) xs[i] = Math.floor(i / C / 2048) * ((i % C) + 1);
      const gamma = tf.tensor1d([1, 1, 1, 1]);
      const beta = tf.tensor1d([0, 0, 0, 0]);
      const x = tf.tensor(xs, shape);
      const [y, mean, variance, invStd] = tf
        .engine()
        .runKernel(BN_TRAIN, { x, gamma, beta }, { epsilon: 0, relu: false }) as tf.Tensor[];
      const [yv, mv, vv] = await Promise.all([y!.data(), mean!.data(), variance!.data()]);
      // Rows 0..2048 repeated 2048 times: mean 1024(c + 1), variance (2049² − 1)/12 · (c + 1)².
      for (let c = 0; c < C; c++) {
        expect(mv[c]! / (1024 * (c + 1))).toBeCloseTo(1, 5);
        expect(vv[c]! / (((2049 ** 2 - 1) / 12) * (c + 1) ** 2)).toBeCloseTo(1, 4);
      }
      // The last elements are in the folded part of the dispatch.
      const sd = Math.sqrt((2049 ** 2 - 1) / 12);
      for (const i of [0, 5, size / 2 + 3, size - 5, size - 1])
        expect(yv[i]!).toBeCloseTo((Math.floor(i / C / 2048) - 1024) / sd, 3);
      tf.dispose([x, gamma, beta, y!, mean!, variance!, invStd!]);
    }, 60_000);
  },
);
