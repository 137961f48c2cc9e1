// Concat and SplitV on webgpu against a JS reference: along the last axis (vec4 and scalar widths),
// inner axes and axis 0, up to the most pieces one program binds, split sizes given as a count or
// with −1; each is one dispatch. int32 and empty pieces take the stock kernels and still agree.
// Without a WebGPU adapter the suite fails, unless TFJS_DDP_SKIP_WEBGPU=1.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateWebGpu, shutdownWebGpu } from '../../backend/webgpu';
import { randomArray, rng } from '../conv-cases';
import { registerFastKernels } from '../fast-kernels';
import { countDispatches } from './count-dispatches';

const skip = process.env['TFJS_DDP_SKIP_WEBGPU'] === '1';
const product = (d: number[]) => d.reduce((a, b) => a * b, 1);

/** The pieces' values joined along `axis` (row-major). */
function joined(pieces: { shape: number[]; values: Float32Array }[], axis: number): number[] {
  const outer = product(pieces[0]!.shape.slice(0, axis));
  const out: number[] = [];
  for (let r = 0; r < outer; r++) {
    for (const p of pieces) {
      const w = product(p.shape.slice(axis));
      for (let k = 0; k < w; k++) out.push(p.values[r * w + k]!);
    }
  }
  return out;
}

const CASES: [string, number[][], number][] = [
  [
    'dense block (vec4)',
    [
      [2, 4, 4, 64],
      [2, 4, 4, 32],
    ],
    3,
  ],
  [
    'odd widths, last axis',
    [
      [3, 5, 2],
      [3, 5, 3],
      [3, 5, 1],
    ],
    2,
  ],
  [
    'inner axis',
    [
      [2, 3, 4, 5],
      [2, 1, 4, 5],
    ],
    1,
  ],
  [
    'axis 0',
    [
      [2, 3],
      [4, 3],
      [1, 3],
    ],
    0,
  ],
  [
    'negative axis',
    [
      [2, 2, 6],
      [2, 2, 2],
    ],
    -1,
  ],
];

(skip ? describe.skip : describe)(
  skip ? 'webgpu Concat and SplitV (skipped: TFJS_DDP_SKIP_WEBGPU=1)' : 'webgpu Concat and SplitV',
  () => {
    beforeAll(async () => {
      await activateWebGpu({ allowSoftware: true });
      expect(registerFastKernels('webgpu')).toEqual(expect.arrayContaining(['Concat', 'SplitV']));
    }, 60_000);
    afterAll(() => shutdownWebGpu());

    it.each(CASES)(
      '%s %j along %i: concat and split back, one dispatch each, exact',
      async (_name, shapes, axis) => {
        const r = rng(shapes.flat().length + axis);
        const pieces = shapes.map((shape) => ({ shape, values: randomArray(product(shape), r) }));
        const $axis = axis < 0 ? axis + shapes[0]!.length : axis;
        const ts = pieces.map((p) => tf.tensor(p.values, p.shape));
        await Promise.all(ts.map((t) => t.data()));
        const before = tf.memory().numTensors;
        const cat = await countDispatches(() => tf.concat(ts, axis));
        expect(cat.dispatches).toBe(1);
        expect(Array.from(await cat.result.data())).toEqual(joined(pieces, $axis));
        const split = await countDispatches(() =>
          tf.split(
            cat.result,
            shapes.map((s) => s[$axis]!),
            axis,
          ),
        );
        expect(split.dispatches).toBe(1);
        for (const [j, t] of split.result.entries()) {
          expect(t.shape).toEqual(shapes[j]);
          expect(Array.from(await t.data())).toEqual(Array.from(pieces[j]!.values));
        }
        tf.dispose([cat.result, ...split.result]);
        expect(tf.memory().numTensors).toBe(before);
        tf.dispose(ts);
      },
    );

    it('as many pieces as one program binds; a split by count and with −1', async () => {
      const limit = (
        tf.backend() as unknown as { device: { limits: { maxStorageBuffersPerShaderStage: number } } }
      ).device.limits.maxStorageBuffersPerShaderStage;
      const n = limit - 1;
      const pieces = Array.from({ length: n }, (_, j) => ({
        shape: [3, 4 + j],
        values: randomArray(3 * (4 + j), rng(j)),
      }));
      const cat = await countDispatches(() =>
        tf.concat(
          pieces.map((p) => tf.tensor(p.values, p.shape)),
          1,
        ),
      );
      expect(cat.dispatches).toBe(1);
      expect(Array.from(await cat.result.data())).toEqual(joined(pieces, 1));
      const x = tf.tensor(randomArray(4 * 12, rng(99)), [4, 12]);
      const [byCount, withRest] = [tf.split(x, 3, 1), tf.split(x, [5, -1, 2], 1)];
      expect(byCount.map((t) => t.shape)).toEqual([
        [4, 4],
        [4, 4],
        [4, 4],
      ]);
      expect(withRest.map((t) => t.shape)).toEqual([
        [4, 5],
        [4, 5],
        [4, 2],
      ]);
      const xs = Array.from(await x.data());
      const cols = (from: number, to: number) =>
        Array.from({ length: 4 }, (_, row) => xs.slice(row * 12 + from, row * 12 + to)).flat();
      expect(Array.from(await withRest[1]!.data())).toEqual(cols(5, 10));
      expect(Array.from(await byCount[2]!.data())).toEqual(cols(8, 12));
    });

    it('int32 pieces and empty pieces take the stock kernels and agree', async () => {
      const a = tf.tensor([1, 2, 3, 4], [2, 2], 'int32');
      const b = tf.tensor([5, 6], [2, 1], 'int32');
      expect(Array.from(await tf.concat([a, b], 1).data())).toEqual([1, 2, 5, 3, 4, 6]);
      const e = tf.zeros([2, 0]);
      const f = tf.tensor([[1], [2]]);
      expect(Array.from(await tf.concat([e, f, f], 1).data())).toEqual([1, 1, 2, 2]);
      const parts = tf.split(tf.tensor([[1, 2, 3]]), [0, 3], 1);
      expect(parts.map((t) => t.shape)).toEqual([
        [1, 0],
        [1, 3],
      ]);
    });
  },
);
