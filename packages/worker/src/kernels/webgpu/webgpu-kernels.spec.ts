// Our webgpu kernels against the naive loops, on the webgpu backend (lavapipe in CI): the shape
// table of the wasm/cpu kernels plus the DenseNet's own layer shapes (the only ones that take the
// vec4 × vec4 path). Also asserts that our program is the one that ran, so that a silent fallback
// to the stock shader fails. Without a WebGPU adapter the suite fails, unless TFJS_DDP_SKIP_WEBGPU=1.
import * as tf from '@tensorflow/tfjs-core';
// tfjs-layers' bundle registers tfjs-core's gradient functions (tfjs-core's own node bundle does not).
import '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateWebGpu, shutdownWebGpu } from '../../backend/webgpu';
import { CASES, randomArray, relErr, rng } from '../conv-cases';
import { registerFastKernels } from '../fast-kernels';
import { type ConvCase, convOutShape, refBackpropFilter } from '../reference-conv';
import { Conv2DBackpropFilterProgram } from './conv2d-backprop-filter-program';

const skip = process.env['TFJS_DDP_SKIP_WEBGPU'] === '1';

// The DenseNet step's filter gradients at input size 32 (batch cut to 2 to keep the JS reference
// quick): the stem (7×7/2, Ci = 1), a 3×3 of block 0 and block 3, a 1×1 transition.
const DENSENET: ConvCase[] = [
  { x: [2, 38, 38, 1], filter: [7, 7, 1, 64], strides: [2, 2], pad: 'valid' },
  { x: [2, 8, 8, 160], filter: [3, 3, 160, 32], strides: [1, 1], pad: 'same' },
  { x: [2, 8, 8, 192], filter: [1, 1, 192, 96], strides: [1, 1], pad: 'valid' },
  { x: [2, 1, 1, 216], filter: [3, 3, 216, 32], strides: [1, 1], pad: 'same' },
];

/** Names of the program classes the backend ran while `f` ran. */
async function programsRun<T>(f: () => Promise<T>): Promise<{ result: T; programs: string[] }> {
  const backend = tf.backend() as unknown as { runWebGPUProgram: (p: object, ...rest: unknown[]) => unknown };
  const original = backend.runWebGPUProgram;
  const programs: string[] = [];
  backend.runWebGPUProgram = function (this: unknown, p: object, ...rest: unknown[]) {
    programs.push(p.constructor.name);
    return original.call(this, p, ...rest);
  };
  try {
    return { result: await f(), programs };
  } finally {
    backend.runWebGPUProgram = original;
  }
}

(skip ? describe.skip : describe)(skip ? 'webgpu kernels (skipped: TFJS_DDP_SKIP_WEBGPU=1)' : 'webgpu kernels', () => {
  beforeAll(async () => {
    // Throws E_GPU_UNAVAILABLE without an adapter: the suite fails rather than skips.
    await activateWebGpu({ allowSoftware: true });
    expect(registerFastKernels('webgpu')).toEqual(['Conv2DBackpropFilter']);
  }, 60_000);
  afterAll(() => shutdownWebGpu());

  // All 39 cases of the wasm/cpu table: 1×1 to 7×7, strides 1–3, odd channel counts (scalar paths).
  it.each([...CASES, ...DENSENET].map((c, i) => [i, JSON.stringify(c), c] as const))(
    'case %i %s: our Conv2DBackpropFilter program runs and matches the naive loop within 1e-4',
    async (_i, _name, c) => {
      const cr = rng(c.x.reduce((a, b) => a * 31 + b, 7));
      const xs = randomArray(c.x.reduce((a, b) => a * b, 1), cr);
      const dyShape = convOutShape(c);
      const dys = randomArray(dyShape.reduce((a, b) => a * b, 1), cr);
      const before = tf.memory().numTensors;
      const x = tf.tensor4d(xs, c.x);
      const dy = tf.tensor4d(dys, dyShape);
      const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: c.filter } as unknown as tf.NamedAttrMap;
      const { result: dw, programs } = await programsRun(async () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs) as tf.Tensor);
      expect(programs).toEqual([Conv2DBackpropFilterProgram.name]);
      expect(dw.shape).toEqual(c.filter);
      expect(relErr(await dw.data(), refBackpropFilter(c, xs, dys))).toBeLessThan(1e-4);
      tf.dispose([x, dy, dw]);
      expect(tf.memory().numTensors).toBe(before);
    },
    30_000,
  );

  it('autodiff of conv2d on webgpu runs our program and agrees with the naive filter gradient', async () => {
    const c: ConvCase = { x: [2, 6, 6, 4], filter: [3, 3, 4, 8], strides: [1, 1], pad: 'same' };
    const cr = rng(5);
    const xs = randomArray(2 * 6 * 6 * 4, cr);
    const x = tf.tensor4d(xs, c.x);
    const w = tf.tensor4d(randomArray(3 * 3 * 4 * 8, cr), c.filter);
    // d/dw Σ conv(x, w) = backprop-filter with dy = 1.
    const { result: gw, programs } = await programsRun(async () => tf.grad((b: tf.Tensor) => tf.sum(tf.conv2d(x, b as tf.Tensor4D, 1, 'same')))(w));
    expect(programs).toContain(Conv2DBackpropFilterProgram.name);
    const ones = new Float32Array(convOutShape(c).reduce((a, b) => a * b, 1)).fill(1);
    expect(relErr(await gw.data(), refBackpropFilter(c, xs, ones))).toBeLessThan(1e-4);
    tf.dispose([x, w, gw]);
  }, 30_000);
});
