// The zero-pad max pool and its gradient on webgpu (one dispatch each) against the cpu backend's
// JS loops, bit for bit: small integers (ties everywhere, negative windows where a pad's 0 wins,
// sums exact in any order), uneven padding, strides, odd channel counts; and a model's
// ZeroPadding2D → MaxPooling2D pair trains through them with no PadV2.
// Without a WebGPU adapter the suite fails, unless TFJS_DDP_SKIP_WEBGPU=1.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateWebGpu, shutdownWebGpu } from '../../backend/webgpu';
import { fusePadMaxPool, maxPoolZeroPad } from '../../model/fuse-pad-max-pool';
import { recordKernels } from '../record-kernels';
import { registerFastKernels } from '../fast-kernels';
import { zeroPadPoolGeometry, type MaxPoolZeroPadAttrs } from '../max-pool-zero-pad';
import { countDispatches } from './count-dispatches';

const skip = process.env['TFJS_DDP_SKIP_WEBGPU'] === '1';

/** Small integers: ties, and negative windows where a pad's 0 is the maximum. */
function ints(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return (s % 5) - 3;
  });
}

const CASES: [number[], MaxPoolZeroPadAttrs][] = [
  [[2, 7, 8, 3], { filterSize: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }],
  [[1, 6, 6, 17], { filterSize: [2, 2], strides: [2, 2], pads: [0, 1, 1, 0] }],
  [[2, 5, 5, 2], { filterSize: [3, 2], strides: [1, 2], pads: [2, 0, 0, 2] }],
  [[2, 9, 9, 8], { filterSize: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }],
];

/** y and dx (for a fixed dy) of the fused op on the current backend, as numbers. */
async function run(shape: number[], attrs: MaxPoolZeroPadAttrs): Promise<number[][]> {
  const g = zeroPadPoolGeometry(shape, attrs);
  const ySize = g[0]! * g[4]! * g[5]! * g[3]!;
  const x = tf.tensor4d(
    ints(
      shape.reduce((a, b) => a * b, 1),
      shape.length + shape[3]!,
    ),
    shape as [number, number, number, number],
  );
  const dy = tf.tensor4d(ints(ySize, 7), [g[0]!, g[4]!, g[5]!, g[3]!]);
  const { value, grads } = tf.valueAndGrads(
    (t: tf.Tensor) => maxPoolZeroPad(t as tf.Tensor4D, attrs) as tf.Tensor,
  )([x], dy);
  const out = [Array.from(await value.data()), Array.from(await grads[0]!.data())];
  tf.dispose([x, dy, value, ...grads]);
  return out;
}

(skip ? describe.skip : describe)(
  skip ? 'webgpu zero-pad max pool (skipped: TFJS_DDP_SKIP_WEBGPU=1)' : 'webgpu zero-pad max pool',
  () => {
    beforeAll(async () => {
      await activateWebGpu({ allowSoftware: true });
      expect(registerFastKernels('webgpu')).toEqual(
        expect.arrayContaining(['DdpMaxPoolZeroPad', 'DdpMaxPoolZeroPadGrad']),
      );
    }, 60_000);
    afterAll(() => shutdownWebGpu());

    it.each(CASES)(
      "%j %j: the cpu loops' values and gradient bit for bit, one dispatch each way",
      async (shape, attrs) => {
        await tf.setBackend('cpu');
        registerFastKernels('cpu');
        const want = await run(shape, attrs);
        await tf.setBackend('webgpu');
        const got = await run(shape, attrs);
        expect(got[0]).toEqual(want[0]);
        expect(got[1]).toEqual(want[1]);
        const x = tf.ones(shape as [number, number, number, number]) as tf.Tensor4D;
        const counted = await countDispatches(() => maxPoolZeroPad(x, attrs));
        expect(counted.dispatches).toBe(1);
        tf.dispose([x, counted.result]);
      },
    );

    it('trains a ZeroPadding2D → MaxPooling2D pair without a PadV2 or MaxPool', async () => {
      await tf.setBackend('webgpu');
      const input = tfl.input({ shape: [9, 9, 2] });
      const pad = tfl.layers.zeroPadding2d({ padding: 1 }).apply(input) as tfl.SymbolicTensor;
      const model = tfl.model({
        inputs: input,
        outputs: tfl.layers.maxPooling2d({ poolSize: 3, strides: 2 }).apply(pad) as tfl.SymbolicTensor,
      });
      expect(fusePadMaxPool(model)).toBe(1);
      const x = tf.tensor(ints(2 * 9 * 9 * 2, 3), [2, 9, 9, 2]);
      const { result, kernels } = recordKernels(() =>
        tf.grad((t: tf.Tensor) => tf.sum(tf.square(model.apply(t, { training: true }) as tf.Tensor)))(x),
      );
      await result.data();
      expect(kernels).toContain('DdpMaxPoolZeroPad');
      expect(kernels).toContain('DdpMaxPoolZeroPadGrad');
      expect(kernels).not.toContain('PadV2');
      expect(kernels).not.toContain('MaxPool');
      tf.dispose([x, result]);
    });
  },
);
