// The oneDNN kernels on the wasm backend against the naive loops of reference-conv.ts, on the shape
// table and the seed DenseNet's shapes; a run that falls back to the wasm kernels fails. Without the
// addon these tests skip, saying why, except where CI must have built it (dnnl-test-gate.ts).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';
import { getKernel, registerKernel, unregisterKernel, type KernelFunc } from '@tensorflow/tfjs-core';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CASES, denseNetCases, randomArray, relErr, rng } from '../conv-cases';
import { nativeKernels, registerFastKernels } from '../fast-kernels';
import {
  type ConvCase,
  convOutShape,
  refBackpropFilter,
  refBackpropInput,
  refConv2d,
} from '../reference-conv';
import { CONV_FILTER_BIAS_GRAD } from '../conv-filter-bias-grad';
import { DNNL_OP } from './dnnl-addon';
import { dnnlForSpecs } from './dnnl-test-gate';
import { DNNL_KERNELS, dnnlGeometry } from './dnnl-kernels';

const { load, skip } = dnnlForSpecs('dnnl-kernels.spec');

/** Calls per `tag:kernel` since the last reset: 'fallback' counts the kernels oneDNN's replace. */
const calls = new Map<string, number>();

function countCalls(name: string, tag: string): void {
  const k = getKernel(name, 'wasm')!;
  const kernelFunc: KernelFunc = (args) => {
    calls.set(`${tag}:${name}`, (calls.get(`${tag}:${name}`) ?? 0) + 1);
    return k.kernelFunc(args);
  };
  unregisterKernel(name, 'wasm');
  registerKernel({ ...k, kernelFunc });
}

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const label = (cs: ConvCase[], tag: string) =>
  cs.map((c, i) => [`${tag} ${i}`, JSON.stringify(c), c] as const);
const ALL = [...label(CASES, 'table'), ...label(denseNetCases(2), 'densenet')];

describe.skipIf(skip)('oneDNN conv kernels on wasm', () => {
  beforeAll(async () => {
    expect(load.binding, `CI needs the oneDNN addon: ${load.why}`).toBeDefined();
    await tf.setBackend('wasm');
    await tf.ready();
    // The loader runs after the wasm replacements are registered and before oneDNN's are made, so
    // the wrappers put here are the fallbacks oneDNN's kernels capture.
    const names = registerFastKernels('wasm', {
      native: () => {
        DNNL_KERNELS.forEach((n) => countCalls(n, 'fallback'));
        return load;
      },
    });
    expect(names).toEqual(expect.arrayContaining([...DNNL_KERNELS]));
    expect(nativeKernels('wasm')).toMatchObject({ provider: 'onednn', kernels: [...DNNL_KERNELS, 'DdpConv2DBackpropFilterBias', 'DdpBatchNormTrain', 'DdpBatchNormGrad', 'DdpBatchNormTrainParts', 'DdpBatchNormGradParts', 'SplitV', 'Slice', 'Concat', 'MaxPoolGrad', 'DdpMaxPoolZeroPad', 'DdpMaxPoolZeroPadGrad', 'AvgPoolGrad', 'Sum', 'Add', 'Equal', 'PadV2'] });
    DNNL_KERNELS.forEach((n) => countCalls(n, 'dnnl'));
  });
  beforeEach(() => calls.clear());

  // First in the file, while the heap is still small.
  it('computes into an output whose allocation grew the wasm heap (the heap is re-read after it)', () => {
    const heap = () => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
    const before = heap();
    // A 1×1 conv to 16 channels whose output is larger than the whole heap now.
    const side = Math.ceil(Math.sqrt(before / 4 / 16)) + 64;
    const c: ConvCase = { x: [1, side, side, 1], filter: [1, 1, 1, 16], strides: [1, 1], pad: 'valid' };
    const r = rng(11);
    const xs = randomArray(numel(c.x), r);
    const ws = randomArray(numel(c.filter), r);
    const x = tf.tensor4d(xs, c.x);
    const w = tf.tensor4d(ws, c.filter);
    const y = tf.conv2d(x, w, 1, 'valid');
    expect(heap()).toBeGreaterThan(before);
    expect(relErr(y.dataSync(), refConv2d(c, xs, ws))).toBeLessThan(1e-4);
    expect(Object.fromEntries(calls)).toEqual({ 'dnnl:Conv2D': 1 });
    tf.dispose([x, w, y]);
  });

  it.each(ALL)(
    '%s %s: forward, bias+ReLU forward and both gradients match the naive loops within 1e-4',
    (_i, _name, c) => {
      const r = rng(numel(c.x) * 31 + numel(c.filter));
      const xs = randomArray(numel(c.x), r);
      const ws = randomArray(numel(c.filter), r);
      const bs = randomArray(c.filter[3], r);
      const yShape = convOutShape(c);
      const dys = randomArray(numel(yShape), r);
      const y0 = refConv2d(c, xs, ws);
      const yBiasRelu = y0.map((v, i) => Math.max(0, v + bs[i % c.filter[3]]!));
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const [x, w, b, dy] = [
          tf.tensor4d(xs, c.x),
          tf.tensor4d(ws, c.filter),
          tf.tensor1d(bs),
          tf.tensor4d(dys, yShape),
        ];
        const attrs = {
          strides: c.strides,
          pad: c.pad,
          dataFormat: 'NHWC',
          dilations: [1, 1],
        } as unknown as tf.NamedAttrMap;
        const run = (name: string, inputs: tf.NamedTensorMap, extra: object = {}) =>
          (
            tf.engine().runKernel(name, inputs, { ...attrs, ...extra } as tf.NamedAttrMap) as tf.Tensor
          ).dataSync();
        expect(relErr(run('Conv2D', { x, filter: w }), y0)).toBeLessThan(1e-4);
        expect(
          relErr(run('FusedConv2D', { x, filter: w, bias: b }, { activation: 'relu' }), yBiasRelu),
        ).toBeLessThan(1e-4);
        expect(
          relErr(
            run('Conv2DBackpropInput', { dy, filter: w }, { inputShape: c.x }),
            refBackpropInput(c, ws, dys),
          ),
        ).toBeLessThan(1e-4);
        expect(
          relErr(
            run('Conv2DBackpropFilter', { x, dy }, { filterShape: c.filter }),
            refBackpropFilter(c, xs, dys),
          ),
        ).toBeLessThan(1e-4);
      });
      expect(tf.memory().numTensors).toBe(before);
      expect(Object.fromEntries(calls)).toEqual({
        'dnnl:Conv2D': 1,
        'dnnl:FusedConv2D': 1,
        'dnnl:Conv2DBackpropInput': 1,
        'dnnl:Conv2DBackpropFilter': 1,
      });
    },
  );

  it.each(denseNetCases(64).map((c) => [JSON.stringify(c), c] as const))(
    'DenseNet shape %s at batch 64: oneDNN chose no reference implementation for any of the three convs',
    (_name, c) => {
      const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad);
      const geom = dnnlGeometry(info, true, false);
      const impls = [DNNL_OP.forward, DNNL_OP.backwardData, DNNL_OP.backwardWeights].map((op) =>
        load.binding!.impl(op, geom),
      );
      console.log(
        `oneDNN impl for ${JSON.stringify(c)}: fwd ${impls[0]}; bwd-data ${impls[1]}; bwd-weights ${impls[2]}`,
      );
      for (const impl of impls) expect(impl).not.toMatch(/^ref/);
    },
  );

  it('falls back to the wasm kernels for dilations and for an activation oneDNN is not given', () => {
    const x = tf.randomUniform([1, 9, 9, 2], -1, 1, 'float32', 3) as tf.Tensor4D;
    const w = tf.randomUniform([3, 3, 2, 3], -1, 1, 'float32', 4) as tf.Tensor4D;
    const dilated = tf.conv2d(x, w, 1, 'same', 'NHWC', 2);
    const elu = tf.fused.conv2d({ x, filter: w, strides: 1, pad: 'same', activation: 'elu' });
    expect(dilated.shape).toEqual([1, 9, 9, 3]);
    expect(elu.shape).toEqual([1, 9, 9, 3]);
    expect(Object.fromEntries(calls)).toEqual({
      'dnnl:Conv2D': 1,
      'fallback:Conv2D': 1,
      'dnnl:FusedConv2D': 1,
      'fallback:FusedConv2D': 1,
    });
    tf.dispose([x, w, dilated, elu]);
  });

  it.each(denseNetCases(2).map((c) => [JSON.stringify(c), c] as const))(
    'DenseNet shape %s: the filter and bias gradients from one oneDNN primitive, within 1e-4 of the naive loops and Σ dY',
    async (_name, c) => {
      const r = rng(numel(c.x) + numel(c.filter));
      const xs = randomArray(numel(c.x), r);
      const dys = randomArray(numel(convOutShape(c)), r);
      const x = tf.tensor4d(xs, c.x);
      const dy = tf.tensor4d(dys, convOutShape(c) as [number, number, number, number]);
      const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: c.filter } as unknown as tf.NamedAttrMap;
      const [dw, db] = tf.engine().runKernel(CONV_FILTER_BIAS_GRAD, { x, dy }, attrs) as tf.Tensor[];
      expect(relErr(await dw!.data(), refBackpropFilter(c, xs, dys))).toBeLessThan(1e-4);
      const co = c.filter[3];
      const sums = new Float64Array(co);
      dys.forEach((v, i) => (sums[i % co]! += v));
      expect(relErr(await db!.data(), sums)).toBeLessThan(1e-4);
      // No fallback: the Conv2DBackpropFilter it would use is wrapped as 'fallback'.
      expect(Object.fromEntries(calls)).toEqual({});
      tf.dispose([x, dy, dw!, db!]);
    },
  );

  it('the autodiff of a DenseNet-like conv layer with bias runs only oneDNN kernels', () => {
    const x = tf.randomUniform([2, 12, 12, 8], -1, 1, 'float32', 5) as tf.Tensor4D;
    const w = tf.randomUniform([3, 3, 8, 4], -1, 1, 'float32', 6) as tf.Tensor4D;
    const b = tf.randomUniform([4], -1, 1, 'float32', 7) as tf.Tensor1D;
    const grads = tf.grads((a: tf.Tensor, f: tf.Tensor, c: tf.Tensor) =>
      tf.sum(
        tf.fused.conv2d({ x: a as tf.Tensor4D, filter: f as tf.Tensor4D, bias: c, strides: 1, pad: 'same' }),
      ),
    )([x, w, b]);
    expect(grads.map((g) => g.shape)).toEqual([x.shape, w.shape, b.shape]);
    expect(Object.fromEntries(calls)).toEqual({
      'dnnl:FusedConv2D': 1,
      'dnnl:Conv2DBackpropInput': 1,
      'dnnl:Conv2DBackpropFilter': 1,
    });
    tf.dispose([x, w, b, ...grads]);
  });
});
