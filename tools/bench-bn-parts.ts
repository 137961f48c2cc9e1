// bench:bn-parts — the BatchNorm (+ ReLU) kernels over a dense block's channel parts against the
// plain kernels over the same channels concatenated, on the wasm backend: ms per call, forward and
// backward. The kernels registerFastKernels picks: the native addon's where it loads, else the
// WebAssembly SIMD ones (TFJS_DDP_CPU_KERNELS=wasm chooses those). Usage:
//   npm run bench:bn-parts -- [--parts 64,32,32,32,32] [--rows 64,24,24] [--reps 10]
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import type { NamedAttrMap } from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { nativeKernels, registerFastKernels } from '@tfjs-ddp/worker';

// The kernels' names (packages/worker/src/kernels/batch-norm-relu.ts).
const [BN_TRAIN, BN_GRAD] = ['DdpBatchNormTrain', 'DdpBatchNormGrad'];
const [BN_TRAIN_PARTS, BN_GRAD_PARTS] = ['DdpBatchNormTrainParts', 'DdpBatchNormGradParts'];

const { values } = parseArgs({
  options: {
    parts: { type: 'string', default: '64,32,32,32,32' },
    rows: { type: 'string', default: '64,24,24' },
    reps: { type: 'string', default: '10' },
  },
});
await tf.setBackend('wasm');
registerFastKernels('wasm');
const run = (name: string, inputs: tf.NamedTensorMap, attrs: object) =>
  tf.engine().runKernel(name, inputs, attrs as NamedAttrMap) as tf.Tensor[];
const lead = values.rows.split(',').map(Number);
const widths = values.parts.split(',').map(Number);
const C = widths.reduce((a, b) => a + b, 0);
const parts = widths.map((w, i) => tf.randomNormal([...lead, w], 0, 1, 'float32', i + 1));
const x = tf.concat(parts, -1);
const [gamma, beta] = [tf.ones([C]), tf.zeros([C])];
const dy = tf.randomNormal([...lead, C], 0, 1, 'float32', 99);
const named = Object.fromEntries(parts.map((t, i) => [`x${i}`, t]));
const reps = Number(values.reps);
const ms = (f: () => tf.Tensor[]) => {
  for (let i = 0; i < 2; i++) tf.dispose(f());
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) tf.dispose(f());
  return +((performance.now() - t0) / reps).toFixed(2);
};
const attrs = { epsilon: 1e-5, relu: true };
const [y, mean, , invStd] = run(BN_TRAIN, { x, gamma, beta }, attrs) as [
  tf.Tensor,
  tf.Tensor,
  tf.Tensor,
  tf.Tensor,
];
const grad = { dy, y, mean, invStd, gamma, beta };
console.log(
  JSON.stringify({
    bench: 'bn-parts',
    kernels: nativeKernels('wasm')?.provider === 'onednn' ? 'native' : 'wasm (SIMD)',
    rows: lead,
    parts: widths,
    forward_ms: {
      plain: ms(() => run(BN_TRAIN, { x, gamma, beta }, attrs)),
      parts: ms(() => run(BN_TRAIN_PARTS, { gamma, beta, ...named }, attrs)),
    },
    backward_ms: {
      plain: ms(() => run(BN_GRAD, { ...grad, x }, { relu: true })),
      parts: ms(() => run(BN_GRAD_PARTS, { ...grad, ...named }, { relu: true })),
    },
  }),
);
