// The parts BatchNorm (+ ReLU) kernels without the native addon (batch-norm-relu.ts: the JS loops
// on cpu and wasm, the WebAssembly SIMD passes on wasm) against the plain kernels on the
// concatenation: y, the statistics, every part's gradient (with and without a pending gradient) and
// dγ, dβ bit for bit, on channel counts the SIMD passes take and ones they leave to the loops.
import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap } from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { BN_GRAD_PARTS, BN_TRAIN_PARTS } from './batch-norm-parts';
import { batchNormReluConfigs, BN_GRAD, BN_TRAIN } from './batch-norm-relu';
import { partsCase } from './parts-cases';
import { useKernels } from './record-kernels';

const bits = (t: tf.Tensor) =>
  Array.from(new Uint32Array((t.dataSync() as Float32Array).slice().buffer), (b) =>
    b === 0x80000000 ? 0 : b,
  );

const run = (name: string, inputs: tf.NamedTensorMap, attrs: object) =>
  tf.engine().runKernel(name, inputs, attrs as NamedAttrMap) as tf.Tensor[];

const CASES: [string, number[], number[], boolean[]][] = [
  ['widths of 4s (SIMD on wasm)', [3, 4, 4], [16, 8, 8, 12], [true, true, false, true]],
  // 1,800 rows of 44 channels: the SIMD passes' blocks of 372 rows, the last one short.
  ['several row blocks', [2, 30, 30], [16, 8, 8, 12], [false, true, true, true]],
  ['odd widths (the loops)', [2, 5], [3, 5, 4], [false, true, true]],
  ['one part', [4, 3], [8], [true]],
];

describe.each([
  ['wasm', true],
  ['wasm', false],
  ['cpu', false],
] as const)('parts BatchNorm kernels on %s (SIMD %s)', (backend, simd) => {
  it.each(CASES.flatMap((c) => [false, true].map((relu) => [...c, relu] as const)))(
    '%s %j %j acc %j relu %s: the plain kernels on the concatenation, bit for bit',
    async (_name, lead, widths, withAcc, relu) => {
      await tf.setBackend(backend);
      useKernels(batchNormReluConfigs(backend, simd));
      tf.tidy(() => {
        const c = partsCase(lead, widths, withAcc, widths.length * 7 + (relu ? 1 : 0));
        const { gamma, beta, dy, x, acc, named } = c;
        const want = run(BN_TRAIN, { x, gamma, beta }, { epsilon: 1e-5, relu });
        const [y, mean, , invStd] = want as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const wantGrad = run(BN_GRAD, { dy, x, y: relu ? y : x, mean, invStd, gamma, beta, acc }, { relu });
        const got = run(BN_TRAIN_PARTS, { gamma, beta, ...named }, { epsilon: 1e-5, relu });
        const gotGrad = run(BN_GRAD_PARTS, c.gradInputs(got, relu), { relu });
        expect(got).toHaveLength(4);
        expect(gotGrad).toHaveLength(widths.length + 2);
        got.forEach((t, k) => expect(bits(t), `forward output ${k}`).toEqual(bits(want[k]!)));
        expect(bits(tf.concat(gotGrad.slice(0, widths.length), -1)), 'dx').toEqual(bits(wantGrad[0]!));
        expect(bits(gotGrad[widths.length]!), 'dγ').toEqual(bits(wantGrad[1]!));
        expect(bits(gotGrad[widths.length + 1]!), 'dβ').toEqual(bits(wantGrad[2]!));
      });
    },
  );

  it('refuses the backward under a ReLU without y, naming the input', async () => {
    await tf.setBackend(backend);
    useKernels(batchNormReluConfigs(backend, simd));
    const x0 = tf.ones([2, 4]);
    const c = tf.ones([4]);
    expect(() =>
      run(BN_GRAD_PARTS, { dy: x0, gamma: c, beta: c, mean: c, invStd: c, x0 }, { relu: true }),
    ).toThrow(/forward output y is an input/);
    tf.dispose([x0, c]);
  });
});
