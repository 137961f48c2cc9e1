// The webgpu parts BatchNorm (+ ReLU) kernels (batch-norm-parts-webgpu.ts) against the plain webgpu
// kernels on the concatenated tensor: y, the statistics, the moving statistics, every part's
// gradient (with and without a pending gradient added) and dγ, dβ bit for bit, on vec4 and scalar
// channel counts; three dispatches each way where the device binds every part, a dispatch per group
// where it binds 8 (WebGPU's default). Then the seed DenseNet's step on webgpu with its
// concatenations never made: no Concat or SplitV, the same loss and gradients as with them.
// Without a WebGPU adapter the suite fails, unless TFJS_DDP_SKIP_WEBGPU=1.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateWebGpu, shutdownWebGpu } from '../../backend/webgpu';
import { buildDenseNet } from '../../model/densenet';
import { fuseBatchNormRelu } from '../../model/fuse-batch-norm-relu';
import { fuseConcatParts } from '../../model/fuse-concat-parts';
import { installLeanBackprop } from '../../train/lean-backprop';
import { BN_GRAD_PARTS, BN_TRAIN_PARTS } from '../batch-norm-parts';
import { BN_GRAD, BN_TRAIN } from '../batch-norm-relu';
import { randomArray, relErr, rng } from '../conv-cases';
import { partsCase } from '../parts-cases';
import { registerFastKernels } from '../fast-kernels';
import { recordKernels } from '../record-kernels';
import { countDispatches } from './count-dispatches';
import { rawRecorder } from './raw-dispatch';

const skip = process.env['TFJS_DDP_SKIP_WEBGPU'] === '1';

const run = (name: string, inputs: tf.NamedTensorMap, attrs: object) =>
  tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor[];

async function withStorageBuffers<T>(limit: number, f: () => Promise<T>): Promise<T> {
  const original = rawRecorder.storageBuffers;
  rawRecorder.storageBuffers = () => limit;
  return f().finally(() => (rawRecorder.storageBuffers = original));
}

/**
 * Name, leading dims, the parts' channels, which parts have a pending gradient, and the dispatches
 * [forward, backward without ReLU, backward with ReLU] at 16 and at 8 storage buffers per program.
 * At 8: the moving statistics apart from the finalize, and the backward programs in groups (the
 * ReLU's y is one binding more).
 */
const CASES: [string, number[], number[], boolean[], Record<16 | 8, number[]>][] = [
  [
    'a dense block (vec4)',
    [2, 6, 6],
    [64, 32, 32, 32, 32],
    [true, true, true, true, false],
    { 16: [3, 3, 4], 8: [4, 5, 7] },
  ],
  ['odd channels (scalar)', [3, 5], [3, 5, 2], [false, true, false], { 16: [3, 3, 3], 8: [4, 4, 4] }],
  ['one part', [4, 3, 3], [8], [true], { 16: [3, 3, 3], 8: [4, 3, 3] }],
];

(skip ? describe.skip : describe)(
  skip
    ? 'webgpu parts BatchNorm kernels (skipped: TFJS_DDP_SKIP_WEBGPU=1)'
    : 'webgpu parts BatchNorm kernels',
  () => {
    beforeAll(async () => {
      await activateWebGpu({ allowSoftware: true });
      expect(registerFastKernels('webgpu')).toEqual(expect.arrayContaining([BN_TRAIN_PARTS, BN_GRAD_PARTS]));
    }, 60_000);
    afterAll(() => shutdownWebGpu());

    describe.each([16, 8] as const)('%i storage buffers per program', (limit) => {
      it.each(CASES.flatMap((c) => [false, true].map((relu) => [...c, relu] as const)))(
        '%s %j %j acc %j %j relu %s: the plain kernels on the concatenation, bit for bit',
        async (_name, lead, channels, withAcc, dispatches, relu) => {
          const device = (
            tf.backend() as unknown as { device: { limits: { maxStorageBuffersPerShaderStage: number } } }
          ).device.limits.maxStorageBuffersPerShaderStage;
          expect(
            device,
            'this suite needs a device that binds 16 storage buffers (lavapipe does)',
          ).toBeGreaterThanOrEqual(16);
          const c = partsCase(lead, channels, withAcc, channels.length * 31 + (relu ? 1 : 0));
          const { parts, gamma, beta, dy, x, acc, named } = c;
          const r = rng(channels.length * 37);
          const C = channels.reduce((a, b) => a + b, 0);
          const [om, ov] = [
            tf.tensor1d(randomArray(C, r)),
            tf.tensor1d(randomArray(C, r).map((v) => v * v + 0.1)),
          ];
          const attrs = { epsilon: 1e-5, relu, movingRule: 'pytorch', momentum: 0.9 };
          const moving = { movingMean: om, movingVariance: ov };
          const want = run(BN_TRAIN, { x, gamma, beta, ...moving }, attrs);
          const [y, mean, , invStd] = want as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
          const wantGrad = run(BN_GRAD, { dy, x, y: relu ? y : x, mean, invStd, gamma, beta, acc }, { relu });
          await Promise.all([...want, ...wantGrad, ...parts].map((t) => t.data()));
          const { fwd, bwd } = await withStorageBuffers(limit, async () => {
            const fwd = await countDispatches(() =>
              run(BN_TRAIN_PARTS, { gamma, beta, ...named, ...moving }, attrs),
            );
            const bwd = await countDispatches(() =>
              run(BN_GRAD_PARTS, c.gradInputs(fwd.result, relu), { relu }),
            );
            return { fwd, bwd };
          });
          expect(fwd.result).toHaveLength(6);
          expect(bwd.result).toHaveLength(channels.length + 2);
          const [f, b, bRelu] = dispatches[limit];
          expect([fwd.dispatches, bwd.dispatches]).toEqual([f, relu ? bRelu : b]);
          const same = async (a: tf.Tensor, b: tf.Tensor, what: string) => {
            expect(a.shape, what).toEqual(b.shape);
            expect(Array.from(await a.data()), what).toEqual(Array.from(await b.data()));
          };
          for (let k = 0; k < 6; k++) await same(fwd.result[k]!, want[k]!, `forward output ${k}`);
          const dx = tf.concat(bwd.result.slice(0, channels.length), -1);
          await same(dx, wantGrad[0]!, 'dx');
          await same(bwd.result[channels.length]!, wantGrad[1]!, 'dγ');
          await same(bwd.result[channels.length + 1]!, wantGrad[2]!, 'dβ');
          tf.dispose([...c.all, om, ov, ...want, ...wantGrad, ...fwd.result, ...bwd.result, dx]);
        },
        30_000,
      );
    });

    it("the seed's step: every Concat and SplitV gone, the loss and gradients of the made concatenations", async () => {
      installLeanBackprop();
      const x = tf.randomNormal([4, 32, 32, 1], 0, 1, 'float32', 3);
      const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 10);
      const step = (model: tfl.LayersModel) => {
        const vars = model.trainableWeights.map((w) => (w as unknown as { read(): tf.Variable }).read());
        const { result, kernels } = recordKernels(() =>
          tf.variableGrads(
            () =>
              tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
            vars,
          ),
        );
        return { out: [result.value, ...vars.map((v) => result.grads[v.name]!)], kernels };
      };
      const made = buildDenseNet({ inputSize: 32 });
      fuseBatchNormRelu(made);
      const want = step(made);
      const model = buildDenseNet({ inputSize: 32 }); // seeded initializers: the same weights
      fuseBatchNormRelu(model);
      expect(fuseConcatParts(model)).toBe(16);
      const got = step(model);
      expect(want.kernels).toContain('Concat');
      expect(got.kernels.filter((k) => k === 'Concat' || k === 'SplitV')).toEqual([]);
      expect(got.kernels.filter((k) => k === BN_TRAIN_PARTS)).toHaveLength(16);
      expect(got.out).toHaveLength(want.out.length);
      for (let i = 0; i < got.out.length; i++)
        expect(relErr(await got.out[i]!.data(), await want.out[i]!.data()), `tensor ${i}`).toBeLessThan(1e-6);
      const moving = (m: tfl.LayersModel) =>
        m.weights
          .filter((w) => /moving/.test(w.name))
          .map((w) => (w as unknown as { read(): tf.Tensor }).read());
      const [a, b] = [moving(model), moving(made)];
      for (let i = 0; i < a.length; i++)
        expect(relErr(await a[i]!.data(), await b[i]!.data())).toBeLessThan(1e-6);
    }, 120_000);
  },
);
