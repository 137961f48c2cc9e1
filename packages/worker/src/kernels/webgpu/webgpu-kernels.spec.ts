// Our webgpu kernels against the naive loops, on the webgpu backend (lavapipe in CI): the whole
// shape table of the wasm/cpu kernels (39 cases, ~1 s on lavapipe) plus the DenseNet's own layer
// shapes and a few with channels in multiples of 4 (the vec4 paths; the table's channels are 1–5).
// Also asserts which program ran, so that a silent fallback to the stock shader fails. Without a
// WebGPU adapter the suite fails, unless TFJS_DDP_SKIP_WEBGPU=1.
import * as tf from '@tensorflow/tfjs-core';
// tfjs-layers' bundle registers tfjs-core's gradient functions (tfjs-core's own node bundle does not).
import '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateWebGpu, shutdownWebGpu } from '../../backend/webgpu';
import { CASES, WEBGPU_CASES, randomArray, relErr, rng } from '../conv-cases';
import { registerFastKernels } from '../fast-kernels';
import { type ConvCase, convOutShape, refBackpropFilter, refBackpropInput } from '../reference-conv';
import { conv2dBackpropFilterProgram } from './conv2d-backprop-filter-program';
import { convBackpropInput } from './conv2d-backprop-input-webgpu';
import { countDispatches, programsRun } from './count-dispatches';
import { movingStatistics } from '../../model/moving-statistics';
import { applyOnDevice } from '../../train/device-optimizers';
import { GradientLayout } from '../../train/gradient-layout';

let n = 0;

const skip = process.env['TFJS_DDP_SKIP_WEBGPU'] === '1';


/** The stock programs, which must run only for the layouts ours leave to them. */
const STOCK_FILTER = 'Conv2DDerFilterProgram';
const STOCK_INPUT = 'Conv2DDerInputProgram';

/** The optimizer specs' variables: 8 (one empty), with the same values each call. */
const OPTIMIZER_SHAPES = [[3, 3, 4, 8], [8], [130], [1], [0], [2, 700], [5, 5], [64]];
const OPTIMIZER_SIZE = OPTIMIZER_SHAPES.reduce((a, s) => a + s.reduce((p, q) => p * q, 1), 0);

type Close = (got: ArrayLike<number>, want: ArrayLike<number>) => void | Promise<void>;
const within = (tolerance: number): Close => (got, want) => expect(relErr(got, want as Float32Array)).toBeLessThan(tolerance);

/**
 * Three steps of an optimizer on the device (applyOnDevice) against tfjs' own update of the same
 * optimizer on the same variables and gradients: one dispatch per group of variables (plus a zeros
 * fill per slot and non-empty variable on the first step, as tfjs makes its slots), the same
 * weights and slots by `close`, and `more` for what else the optimizer keeps.
 */
async function againstStock(tag: string, make: () => tf.Optimizer, gradient: (step: number) => Float32Array, slots: number, close: Close, more?: (stock: tf.Optimizer, mine: tf.Optimizer) => Promise<void>): Promise<void> {
  const vars = () => OPTIMIZER_SHAPES.map((s, k) => tf.variable(tf.tensor(randomArray(s.reduce((a, b) => a * b, 1), rng(k + 1)), s), true, `${tag}-spec/${n++}`));
  const [stock, mine] = [vars(), vars()];
  const layouts = [new GradientLayout(stock), new GradientLayout(mine)];
  const [optA, optB] = [make(), make()];
  const limit = (tf.backend() as unknown as { device: { limits: { maxStorageBuffersPerShaderStage: number } } }).device.limits.maxStorageBuffersPerShaderStage;
  const perGroup = Math.floor((limit - 1) / (2 * (1 + slots)));
  for (let step = 0; step < 3; step++) {
    const mean = gradient(step);
    const grads = layouts[0]!.unflatten(mean);
    optA.applyGradients(grads);
    tf.dispose(Object.values(grads));
    // The device takes the summed gradient and the factor to the mean (exact here: a power of 2).
    const sum = mean.map((v) => v * 4);
    const { result, dispatches } = await countDispatches(() => applyOnDevice(optB, layouts[1]!, sum, 0.25));
    expect(result).toBe(true);
    expect(dispatches).toBe(Math.ceil(7 / perGroup) + (step === 0 ? 7 * slots : 0));
  }
  for (const [i, v] of mine.entries()) await close(await v.data(), await stock[i]!.data());
  const [a, b] = [await optA.getWeights(), await optB.getWeights()];
  expect(b.map((w) => w.name.replace(/\/\d+\//, '/'))).toEqual(a.map((w) => w.name.replace(/\/\d+\//, '/')));
  for (const [i, w] of b.entries()) await close(await w.tensor.data(), await a[i]!.tensor.data());
  await more?.(optA, optB);
  tf.dispose([...stock, ...mine]);
  optA.dispose();
  optB.dispose();
}

(skip ? describe.skip : describe)(skip ? 'webgpu kernels (skipped: TFJS_DDP_SKIP_WEBGPU=1)' : 'webgpu kernels', () => {
  beforeAll(async () => {
    // Throws E_GPU_UNAVAILABLE without an adapter: the suite fails rather than skips.
    await activateWebGpu({ allowSoftware: true });
    expect(registerFastKernels('webgpu')).toEqual(['Conv2D', 'FusedConv2D', 'Conv2DBackpropFilter', 'DdpConv2DBackpropFilterBias', 'Conv2DBackpropInput', 'DdpBatchNormTrain', 'DdpBatchNormGrad', 'DdpBatchNormTrainParts', 'DdpBatchNormGradParts', 'Concat', 'SplitV', 'DdpMaxPoolZeroPad', 'DdpMaxPoolZeroPadGrad']);
  }, 60_000);
  afterAll(() => shutdownWebGpu());

  // All 39 cases of the wasm/cpu table: 1×1 to 7×7, strides 1–3, odd channel counts (scalar paths).
  it.each([...CASES, ...WEBGPU_CASES].map((c, i) => [i, JSON.stringify(c), c] as const))(
    'case %i %s: our Conv2DBackpropFilter and Conv2DBackpropInput programs run and match the naive loops within 1e-4',
    async (_i, _name, c) => {
      const cr = rng(c.x.reduce((a, b) => a * 31 + b, 7));
      const xs = randomArray(c.x.reduce((a, b) => a * b, 1), cr);
      const ws = randomArray(c.filter.reduce((a, b) => a * b, 1), cr);
      const dyShape = convOutShape(c);
      const dys = randomArray(dyShape.reduce((a, b) => a * b, 1), cr);
      const before = tf.memory().numTensors;
      const x = tf.tensor4d(xs, c.x);
      const w = tf.tensor4d(ws, c.filter);
      const dy = tf.tensor4d(dys, dyShape);
      const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC' };
      const fa = { ...attrs, filterShape: c.filter } as unknown as tf.NamedAttrMap;
      const ia = { ...attrs, inputShape: c.x } as unknown as tf.NamedAttrMap;
      // Ours records through raw-dispatch.ts, not runWebGPUProgram: no tfjs program, one dispatch.
      const filterRun = await programsRun(async () => countDispatches(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, fa) as tf.Tensor));
      const inputRun = await programsRun(async () => countDispatches(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, ia) as tf.Tensor));
      expect(filterRun.programs).toEqual([]);
      const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad);
      const { splits } = conv2dBackpropFilterProgram(info, false);
      if (c.x[1] >= 32) expect(splits).toBeGreaterThan(1);
      expect(filterRun.result.dispatches).toBe(splits > 1 ? 2 : 1);
      // Ours needs Ci and Co in multiples of 4 (one dispatch, no tfjs program); the stock vec4
      // shader needs the same, so elsewhere the stock kernel runs its scalar shader.
      const vec4 = c.filter[2] % 4 === 0 && c.filter[3] % 4 === 0;
      expect(inputRun.programs).toEqual(vec4 ? [] : [STOCK_INPUT]);
      expect(inputRun.result.dispatches).toBe(1);
      const [dw, dx] = [filterRun.result.result, inputRun.result.result];
      expect(dw.shape).toEqual(c.filter);
      expect(dx.shape).toEqual(c.x);
      expect(relErr(await dw.data(), refBackpropFilter(c, xs, dys))).toBeLessThan(1e-4);
      expect(relErr(await dx.data(), refBackpropInput(c, ws, dys))).toBeLessThan(1e-4);
      // The 8-channel invocations that large layers get (fill 0: wherever Ci allows).
      const wide = c.filter[2] % 8 === 0 && vec4 ? [tf.engine().makeTensorFromTensorInfo(convBackpropInput(tf.backend(), info, dy, w, 0))] : [];
      for (const t of wide) expect(relErr(await t.data(), refBackpropInput(c, ws, dys))).toBeLessThan(1e-4);
      tf.dispose([x, w, dy, dw, dx, ...wide]);
      expect(tf.memory().numTensors).toBe(before);
    },
    30_000,
  );

  it('autodiff of conv2d on webgpu runs our programs, not the stock ones, and agrees with the naive gradients', async () => {
    const c: ConvCase = { x: [2, 6, 6, 4], filter: [3, 3, 4, 8], strides: [1, 1], pad: 'same' };
    const cr = rng(5);
    const xs = randomArray(2 * 6 * 6 * 4, cr);
    const ws = randomArray(3 * 3 * 4 * 8, cr);
    const x = tf.tensor4d(xs, c.x);
    const w = tf.tensor4d(ws, c.filter);
    // d/dw Σ conv(x, w) = backprop-filter with dy = 1.
    const { result, programs } = await programsRun(async () =>
      tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')))([x, w]),
    );
    const [gx, gw] = result as [tf.Tensor, tf.Tensor];
    expect(programs).not.toContain(STOCK_FILTER);
    expect(programs).not.toContain(STOCK_INPUT);
    const ones = new Float32Array(convOutShape(c).reduce((a, b) => a * b, 1)).fill(1);
    expect(relErr(await gw.data(), refBackpropFilter(c, xs, ones))).toBeLessThan(1e-4);
    expect(relErr(await gx.data(), refBackpropInput(c, ws, ones))).toBeLessThan(1e-4);
    tf.dispose([x, w, gx, gw]);
  }, 30_000);

  it("plain SGD's update takes one dispatch per group of variables, with tfjs' own SGD's weights (within an FMA's rounding)", async () => {
    // 8 variables (one empty): groups of 7 where the device binds 16 storage buffers, of 3 where 8.
    const shapes = [[3, 3, 4, 8], [8], [130], [1], [0], [2, 70000], [5, 5], [64]];
    const make = () => shapes.map((s, k) => tf.variable(tf.tensor(randomArray(s.reduce((a, b) => a * b, 1), rng(k + 1)), s), true, `sgd-step-spec/${n++}`));
    const [stock, mine] = [make(), make()];
    const layouts = [new GradientLayout(stock), new GradientLayout(mine)];
    const mean = randomArray(layouts[0]!.size, rng(9));
    const [optA, optB] = [tf.train.sgd(0.1), tf.train.sgd(0.1)];
    const before = tf.memory().numTensors;
    for (let step = 0; step < 2; step++) {
      const grads = layouts[0]!.unflatten(mean);
      optA.applyGradients(grads);
      tf.dispose(Object.values(grads));
      // The summed gradient of 3 samples and 1/3, which float32 rounds: within the tolerance below.
      const sum = mean.map((v) => v * 3);
      const { result, dispatches } = await countDispatches(() => applyOnDevice(optB, layouts[1]!, sum, 1 / 3));
      expect(result).toBe(true);
      const limit = (tf.backend() as unknown as { device: { limits: { maxStorageBuffersPerShaderStage: number } } }).device.limits.maxStorageBuffersPerShaderStage;
      expect(dispatches).toBe(Math.ceil(7 / Math.floor((limit - 1) / 2)));
    }
    expect(tf.memory().numTensors).toBe(before);
    for (const [i, v] of mine.entries()) expect(relErr(await v.data(), (await stock[i]!.data()) as Float32Array)).toBeLessThan(1e-6);
    expect((await optB.getWeights())[0]!.tensor.dataSync()[0]).toBe(2);
    expect(applyOnDevice(tf.train.adagrad(0.1), layouts[1]!, mean, 1)).toBe(false);
    tf.dispose([...stock, ...mine]);
  }, 30_000);

  it.each([false, true])("momentum SGD (Nesterov %s) takes one dispatch per group, with tfjs' own weights and slots (within an FMA's rounding)", async (nesterov) => {
    await againstStock('momentum', () => tf.train.momentum(0.05, 0.9, nesterov), (step) => randomArray(OPTIMIZER_SIZE, rng(20 + step)), 1, within(1e-6));
  }, 30_000);

  it("Adam takes one dispatch per two variables, with tfjs' own weights, moments and β powers (within float32 rounding)", async () => {
    const gradient = (step: number) => randomArray(OPTIMIZER_SIZE, rng(30 + step)).map((v, i) => (i % 7 === 0 ? v * 1e-4 : v));
    await againstStock('adam', () => tf.train.adam(0.01), gradient, 2, within(1e-5), async (optA, optB) => {
      for (const k of ['accBeta1', 'accBeta2']) {
        const value = async (o: tf.Optimizer) => (await (o as unknown as Record<string, tf.Variable>)[k]!.data())[0];
        expect(await value(optB)).toBe(await value(optA));
      }
    });
  }, 30_000);

  it.each([
    [0.9, 0, false],
    [0.95, 0.8, false],
    [0.9, 0.5, true],
  ] as const)("RMSProp (ρ %f, momentum %f, centered %s) on the device, with tfjs' own weights and slots (within float32 rounding)", async (decay, momentum, centered) => {
    const gradient = (step: number) => randomArray(OPTIMIZER_SIZE, rng(40 + step)).map((v, i) => Math.fround(v * (i % 7 === 0 ? 1e-3 : 1e-1)));
    // tfjs' centered update takes the root of s' − (ḡ'² + ε), negative where a gradient is tiny:
    // NaN there, in its update as in ours. Same NaNs, and the rest within float32 rounding.
    const close = async (got: ArrayLike<number>, want: ArrayLike<number>) => {
      const nan = (a: ArrayLike<number>) => Array.from(a, (x) => Number.isNaN(x));
      expect(nan(got)).toEqual(nan(want));
      const finite = (a: ArrayLike<number>) => Array.from(a).filter((x) => !Number.isNaN(x));
      expect(relErr(finite(got), finite(want))).toBeLessThan(1e-5);
    };
    await againstStock('rmsprop', () => tf.train.rmsprop(0.01, decay, momentum, undefined, centered), gradient, centered ? 3 : 2, close);
  }, 30_000);

  it.each(['pytorch', 'tfjs'] as const)("a BatchNorm layer's moving statistics by the %s rule: both in one dispatch, the kernels' values", async (rule) => {
    const t = (k: number, positive: boolean) => tf.tensor1d(randomArray(37, rng(k)).map((v) => (positive ? Math.abs(v) * 3 : v)));
    const [om, ov, bm, bv] = [t(1, false), t(2, true), t(3, false), t(4, true)];
    const { result, dispatches } = await countDispatches(() => movingStatistics(rule, om, ov, bm, bv, 0.9, 2304));
    expect(dispatches).toBe(1);
    const expected = tf.tidy(() => {
      const unbiased = rule === 'pytorch' ? tf.mul(bv, 2304 / 2303) : bv;
      return rule === 'pytorch'
        ? [tf.add(tf.mul(om, 0.9), tf.mul(bm, 1 - 0.9)), tf.add(tf.mul(ov, 0.9), tf.mul(unbiased, 1 - 0.9))]
        : [tf.sub(om, tf.mul(tf.sub(om, bm), 1 - 0.9)), tf.sub(ov, tf.mul(tf.sub(ov, bv), 1 - 0.9))];
    });
    for (const [i, r] of result.entries()) expect(relErr(await r.data(), (await expected[i]!.data()) as Float32Array)).toBeLessThan(1e-6);
    tf.dispose([om, ov, bm, bv, ...result, ...expected]);
  }, 30_000);
});
