// bench:kernels — the conv-gradient kernels on the DenseNet's layer shapes, against the forward
// conv of the same layer, on one backend. Prints one JSON line per shape. Usage:
//   npm run bench:kernels -- [--backend wasm] [--batch 64] [--reps 3]
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, type BackendChoice } from '@tfjs-ddp/worker';

const { values } = parseArgs({
  options: { backend: { type: 'string', default: 'wasm' }, batch: { type: 'string', default: '64' }, reps: { type: 'string', default: '3' } },
});
const B = Number(values.batch);
const reps = Number(values.reps);
await selectBackend(values.backend as BackendChoice);

function time(f: () => tf.Tensor): number {
  const run = () => {
    const r = f();
    r.dataSync();
    r.dispose();
  };
  run();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) run();
  return (performance.now() - t0) / reps;
}

// [H, Ci, Co, K, stride, pad]: the stem, the largest 3×3 of block 0, a 1×1 transition, block 1 and 3.
const SHAPES = [
  [102, 1, 64, 7, 2, 'valid'],
  [24, 160, 32, 3, 1, 'same'],
  [24, 192, 96, 1, 1, 'valid'],
  [12, 192, 32, 3, 1, 'same'],
  [3, 216, 32, 3, 1, 'same'],
] as const;

for (const [H, Ci, Co, K, s, pad] of SHAPES) {
  const x = tf.randomNormal([B, H, H, Ci]) as tf.Tensor4D;
  const w = tf.randomNormal([K, K, Ci, Co]) as tf.Tensor4D;
  const y = tf.conv2d(x, w, s, pad);
  const dy = tf.randomNormal(y.shape) as tf.Tensor4D;
  const attrs = { strides: s, pad, dataFormat: 'NHWC' } as unknown as tf.NamedAttrMap;
  const fwd = time(() => tf.conv2d(x, w, s, pad));
  const dW = time(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: [K, K, Ci, Co] }) as tf.Tensor);
  const dX = time(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape }) as tf.Tensor);
  const gflop = (2 * y.size * K * K * Ci) / 1e9;
  console.log(
    JSON.stringify({
      bench: 'kernels',
      backend: tf.getBackend(),
      x: x.shape,
      filter: w.shape,
      stride: s,
      fwd_ms: +fwd.toFixed(1),
      backprop_filter_ms: +dW.toFixed(1),
      backprop_input_ms: +dX.toFixed(1),
      fwd_gflops: +(gflop / (fwd / 1e3)).toFixed(1),
      filter_vs_fwd: +(dW / fwd).toFixed(2),
      input_vs_fwd: +(dX / fwd).toFixed(2),
    }),
  );
  tf.dispose([x, w, y, dy]);
}
