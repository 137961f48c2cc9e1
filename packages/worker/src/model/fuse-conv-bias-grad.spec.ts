// The conv layers' filter-and-bias gradient kernel: on webgpu, the kernel against the naive loops
// and a Σ of dY, and a model's gradients through the patched layers against the stock layers'; on
// cpu (no such kernel) the patched layers run the stock call. Without a WebGPU adapter the webgpu
// part fails, unless TFJS_DDP_SKIP_WEBGPU=1.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend/select-backend';
import { activateWebGpu, shutdownWebGpu } from '../backend/webgpu';
import { randomArray, relErr, rng } from '../kernels/conv-cases';
import { recordKernels } from '../kernels/record-kernels';
import { CONV_FILTER_BIAS_GRAD } from '../kernels/conv-filter-bias-grad';
import { conv2dBackpropFilterProgram } from '../kernels/webgpu/conv2d-backprop-filter-program';
import { registerFastKernels } from '../kernels/fast-kernels';
import { refBackpropFilter, type ConvCase } from '../kernels/reference-conv';
import { countDispatches } from '../kernels/webgpu/count-dispatches';
import { fuseConvBiasGradient } from './fuse-conv-bias-grad';

const skip = process.env['TFJS_DDP_SKIP_WEBGPU'] === '1';

/** Input → Conv2D (from the input: stays stock) → Conv2D → Conv2D (no bias) → Conv2D strided, valid. */
function model(seed: number): tfl.LayersModel {
  const input = tfl.input({ shape: [9, 9, 3] });
  const init = (k: number) => tfl.initializers.randomNormal({ seed: seed + k });
  let h = tfl.layers
    .conv2d({
      filters: 8,
      kernelSize: 3,
      padding: 'same',
      kernelInitializer: init(1),
      biasInitializer: init(2),
    })
    .apply(input) as tfl.SymbolicTensor;
  h = tfl.layers
    .conv2d({
      filters: 8,
      kernelSize: 3,
      padding: 'same',
      kernelInitializer: init(3),
      biasInitializer: init(4),
    })
    .apply(h) as tfl.SymbolicTensor;
  h = tfl.layers
    .conv2d({ filters: 4, kernelSize: 1, useBias: false, kernelInitializer: init(5) })
    .apply(h) as tfl.SymbolicTensor;
  h = tfl.layers
    .conv2d({
      filters: 5,
      kernelSize: 2,
      strides: 2,
      padding: 'valid',
      kernelInitializer: init(6),
      biasInitializer: init(7),
    })
    .apply(h) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: h });
}

/** The model's loss gradients (by weight order) and the kernels run, in training mode. */
async function gradients(m: tfl.LayersModel): Promise<{ grads: Float32Array[]; kernels: string[] }> {
  const x = tf.tensor(randomArray(2 * 9 * 9 * 3, rng(3)), [2, 9, 9, 3]);
  const vars = m.trainableWeights.map((w) => (w as unknown as { read(): tf.Variable }).read());
  const { result, kernels } = recordKernels(() =>
    tf.variableGrads(() => tf.sum(tf.square(m.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar, vars),
  );
  return { grads: (await Promise.all(vars.map((v) => result.grads[v.name]!.data()))) as Float32Array[], kernels };
}

describe('conv filter-and-bias gradient on cpu (no such kernel)', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it('patches the eligible layers, and they run the stock call', async () => {
    const [stock, patched] = [model(1), model(1)];
    expect(fuseConvBiasGradient(patched)).toBe(3);
    expect(fuseConvBiasGradient(patched)).toBe(3);
    const [a, b] = [await gradients(stock), await gradients(patched)];
    expect(b.kernels).not.toContain(CONV_FILTER_BIAS_GRAD);
    b.grads.forEach((g, i) => expect(Array.from(g)).toEqual(Array.from(a.grads[i]!)));
  });
});

(skip ? describe.skip : describe)(
  skip
    ? 'conv filter-and-bias gradient on webgpu (skipped: TFJS_DDP_SKIP_WEBGPU=1)'
    : 'conv filter-and-bias gradient on webgpu',
  () => {
    beforeAll(async () => {
      await activateWebGpu({ allowSoftware: true });
      expect(registerFastKernels('webgpu')).toContain(CONV_FILTER_BIAS_GRAD);
    }, 60_000);
    afterAll(() => shutdownWebGpu());

    it.each([
      [{ x: [2, 8, 8, 160], filter: [3, 3, 160, 32], strides: [1, 1], pad: 'same' }],
      [{ x: [2, 8, 8, 192], filter: [1, 1, 192, 96], strides: [1, 1], pad: 'valid' }],
      [{ x: [3, 7, 5, 3], filter: [2, 3, 3, 5], strides: [2, 1], pad: 'valid' }],
      // Enough output rows to split (conv2d-backprop-filter-program.ts): ranges that cross images,
      // strides, the vec4 and scalar paths.
      [{ x: [4, 32, 32, 8], filter: [3, 3, 8, 8], strides: [1, 1], pad: 'same' }],
      [{ x: [3, 35, 50, 4], filter: [3, 3, 4, 8], strides: [2, 2], pad: 'same' }],
      [{ x: [8, 40, 40, 3], filter: [3, 3, 3, 5], strides: [1, 1], pad: 'same' }],
    ] as [ConvCase][])(
      '%j: dW and dB in one dispatch (two when split over rows), within 1e-4 of the naive loops and Σ dY',
      async (c) => {
        const r = rng(c.x[3]! + c.filter[3]!);
        const xs = randomArray(
          c.x.reduce((a, b) => a * b, 1),
          r,
        );
        const x = tf.tensor4d(xs, c.x as [number, number, number, number]);
        const y = tf.conv2d(
          x,
          tf.zeros(c.filter as [number, number, number, number]),
          c.strides,
          c.pad as 'same' | 'valid',
        );
        const dys = randomArray(y.size, r);
        const dy = tf.tensor(dys, y.shape);
        await dy.data();
        const attrs = {
          strides: c.strides,
          pad: c.pad,
          dataFormat: 'NHWC',
          filterShape: c.filter,
        } as unknown as tf.NamedAttrMap;
        const { result, dispatches } = await countDispatches(
          () => tf.engine().runKernel(CONV_FILTER_BIAS_GRAD, { x, dy }, attrs) as tf.Tensor[],
        );
        const info = tf.backend_util.computeConv2DInfo(c.x as [number, number, number, number], c.filter as [number, number, number, number], c.strides as [number, number], 1, c.pad as 'same' | 'valid');
        const { splits } = conv2dBackpropFilterProgram(info, true);
        if (c.x[1]! >= 32) expect(splits).toBeGreaterThan(1);
        expect(dispatches).toBe(splits > 1 ? 2 : 1);
        const [dw, db] = result as [tf.Tensor, tf.Tensor];
        expect(relErr(await dw.data(), refBackpropFilter(c, xs, dys))).toBeLessThan(1e-4);
        const co = c.filter[3]!;
        const sums = new Float64Array(co);
        dys.forEach((v, i) => (sums[i % co]! += v));
        expect(relErr(await db.data(), sums)).toBeLessThan(1e-4);
      },
    );

    it("a model's gradients through the patched layers: the stock layers' within 1e-5, one kernel instead of Conv2DBackpropFilter and Sum, and no input gradient for the first", async () => {
      const [stock, patched] = [model(2), model(2)];
      expect(fuseConvBiasGradient(patched)).toBe(3);
      const [a, b] = [await gradients(stock), await gradients(patched)];
      const count = (ks: string[], name: string) => ks.filter((k) => k === name).length;
      expect(count(b.kernels, CONV_FILTER_BIAS_GRAD)).toBe(3);
      expect(count(b.kernels, 'Sum')).toBe(count(a.kernels, 'Sum') - 3);
      // tfjs' fused conv computes the image's gradient too; the patched first layer does not.
      expect(count(b.kernels, 'Conv2DBackpropInput')).toBe(count(a.kernels, 'Conv2DBackpropInput') - 1);
      b.grads.forEach((g, i) => expect(relErr(g, a.grads[i]!)).toBeLessThan(1e-5));
    });
  },
);
