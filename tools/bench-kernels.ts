// bench:kernels — the conv kernels on the DenseNet's layer shapes: the gradients against the forward
// conv of the same layer, and each (forward too) against the backend's stock kernel it replaces, on
// one backend.
// Prints one JSON line per shape. Usage:
//   npm run bench:kernels -- [--backend wasm|cpu|webgpu] [--batch 64] [--size 96] [--reps 3]
// Results are read asynchronously (webgpu in Node has no synchronous read); a timed run is `reps`
// kernels queued back to back and one read of the last, after one untimed run (shader compile).
// On webgpu with shader-f16, fwd_f16_ms is our forward conv with TFJS_DDP_WEBGPU_F16's arithmetic, and
// fwd_f16_rel_err its distance from the float32 conv on the same device. With TFJS_DDP_WEBGPU_CONV=mma
// the forward conv (fwd_ms) and both gradients (backprop_*_ms) run on subgroup matrices, and
// the *_mma_rel_err fields are their distances from our float32 kernels on the same device.
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { activeMma, convBackpropFilter, convBackpropInput, convForward, deviceHasF16, finalFeatureSize, selectBackend, shutdownWebGpu, type BackendChoice } from '@tfjs-ddp/worker';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    batch: { type: 'string', default: '64' },
    size: { type: 'string', default: '96' },
    reps: { type: 'string', default: '3' },
  },
});
const B = Number(values.batch);
const size = Number(values.size);
const reps = Number(values.reps);
const backend = values.backend as BackendChoice;

// The stock kernels, captured before selectBackend registers ours over them (webgpu's register
// when the package loads, which selectBackend would otherwise do first).
if (backend === 'webgpu') await import('@tensorflow/tfjs-backend-webgpu');
const stock = Object.fromEntries(['Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput'].map((k) => [k, tf.getKernel(k, backend)?.kernelFunc]));
await selectBackend(backend);

/** max |a − b| / max |b| (disposes both). */
async function maxRelErr(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const [av, bv] = [await a.data(), await b.data()];
  let [num, den] = [0, 1e-12];
  for (let i = 0; i < bv.length; i++) [num, den] = [Math.max(num, Math.abs(av[i]! - bv[i]!)), Math.max(den, Math.abs(bv[i]!))];
  tf.dispose([a, b]);
  return num / den;
}

async function time(f: () => tf.Tensor): Promise<number> {
  const first = f();
  await first.data();
  first.dispose();
  const t0 = performance.now();
  let last: tf.Tensor | null = null;
  for (let i = 0; i < reps; i++) {
    last?.dispose();
    last = f();
  }
  await last!.data();
  last!.dispose();
  return (performance.now() - t0) / reps;
}

/** Runs a kernel function directly (not the registered kernel). */
function call(fn: tf.KernelFunc, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap): tf.Tensor {
  return tf.engine().makeTensorFromTensorInfo(fn({ inputs, backend: tf.backend(), attrs }) as tf.TensorInfo);
}

// [H, Ci, Co, K, stride, pad] at input size `size`: the stem (input padded by 3), the largest 3×3 of
// block 0, the 1×1 of transition 0, the largest 3×3 of block 1, the last of block 3.
const s0 = finalFeatureSize(size, 1);
const SHAPES = [
  [size + 6, 1, 64, 7, 2, 'valid'],
  [s0, 160, 32, 3, 1, 'same'],
  [s0, 192, 96, 1, 1, 'valid'],
  [finalFeatureSize(size, 2), 192, 32, 3, 1, 'same'],
  [finalFeatureSize(size, 4), 216, 32, 3, 1, 'same'],
] as const;

const ms = (t: number | null) => (t === null ? null : +t.toFixed(t < 10 ? 2 : 1));
for (const [H, Ci, Co, K, s, pad] of SHAPES) {
  const x = tf.randomNormal([B, H, H, Ci]) as tf.Tensor4D;
  const w = tf.randomNormal([K, K, Ci, Co]) as tf.Tensor4D;
  const y = tf.conv2d(x, w, s, pad);
  const dy = tf.randomNormal(y.shape) as tf.Tensor4D;
  const attrs = { strides: s, pad, dataFormat: 'NHWC' } as unknown as tf.NamedAttrMap;
  const fa = { ...attrs, filterShape: [K, K, Ci, Co] } as unknown as tf.NamedAttrMap;
  const ia = { ...attrs, inputShape: x.shape } as unknown as tf.NamedAttrMap;
  const fwd = await time(() => tf.conv2d(x, w, s, pad));
  const dW = await time(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, fa) as tf.Tensor);
  const dX = await time(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, ia) as tf.Tensor);
  // Only where a stock kernel exists and ours replaced it.
  const [sc, sf, si] = [stock['Conv2D'], stock['Conv2DBackpropFilter'], stock['Conv2DBackpropInput']];
  const stockFwd = sc !== undefined && sc !== tf.getKernel('Conv2D', backend)?.kernelFunc ? await time(() => call(sc, { x, filter: w }, { ...attrs, dilations: 1 })) : null;
  const stockW = sf !== undefined && sf !== tf.getKernel('Conv2DBackpropFilter', backend)?.kernelFunc ? await time(() => call(sf, { x, dy }, fa)) : null;
  const stockX = si !== undefined && si !== tf.getKernel('Conv2DBackpropInput', backend)?.kernelFunc ? await time(() => call(si, { dy, filter: w }, ia)) : null;
  // TFJS_DDP_WEBGPU_F16's forward conv, where the device has shader-f16 (its numerics: docs/kernels.md).
  const info = tf.backend_util.computeConv2DInfo(x.shape, w.shape, s, 1, pad);
  const convF16 = () => tf.engine().makeTensorFromTensorInfo(convForward(tf.backend(), info, [x, w, undefined], false, undefined, true)) as tf.Tensor;
  const f16 = deviceHasF16(tf.backend()) ? await time(convF16) : null;
  // And how far it is from the float32 conv on this device: max |a − b| / max |b| (lavapipe: 3.8–5.6e-4).
  const f16Err = f16 === null ? null : await maxRelErr(convF16(), tf.conv2d(x, w, s, pad));
  // With TFJS_DDP_WEBGPU_CONV=mma, tf.conv2d is the subgroup-matrix conv: against our float32 one.
  const ours = () => tf.engine().makeTensorFromTensorInfo(convForward(tf.backend(), info, [x, w, undefined], false)) as tf.Tensor;
  const mmaErr = activeMma() === null ? null : await maxRelErr(tf.conv2d(x, w, s, pad), ours());
  // And the input gradient, which mma runs too where Ci and Co are multiples of 4 (else the same kernel runs twice).
  const oursDx = () => tf.engine().makeTensorFromTensorInfo(convBackpropInput(tf.backend(), info, dy, w)) as tf.Tensor;
  const oursDw = () => tf.engine().makeTensorFromTensorInfo(convBackpropFilter(tf.backend(), info, x, dy, false)[0]!) as tf.Tensor;
  const mmaDwErr = activeMma() === null || Ci % 4 !== 0 ? null : await maxRelErr(tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, fa) as tf.Tensor, oursDw());
  const mmaDxErr = activeMma() === null || Ci % 4 !== 0 ? null : await maxRelErr(tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, ia) as tf.Tensor, oursDx());
  const gflop = (2 * y.size * K * K * Ci) / 1e9;
  console.log(
    JSON.stringify({
      bench: 'kernels',
      backend: tf.getBackend(),
      x: x.shape,
      filter: w.shape,
      stride: s,
      fwd_ms: ms(fwd),
      stock_fwd_ms: ms(stockFwd),
      fwd_f16_ms: ms(f16),
      fwd_f16_rel_err: f16Err === null ? null : Number(f16Err.toExponential(2)),
      fwd_mma_rel_err: mmaErr === null ? null : Number(mmaErr.toExponential(2)),
      backprop_input_mma_rel_err: mmaDxErr === null ? null : Number(mmaDxErr.toExponential(2)),
      backprop_filter_mma_rel_err: mmaDwErr === null ? null : Number(mmaDwErr.toExponential(2)),
      backprop_filter_ms: ms(dW),
      backprop_input_ms: ms(dX),
      stock_backprop_filter_ms: ms(stockW),
      stock_backprop_input_ms: ms(stockX),
      fwd_gflops: +(gflop / (fwd / 1e3)).toFixed(1),
      filter_vs_fwd: +(dW / fwd).toFixed(2),
      input_vs_fwd: +(dX / fwd).toFixed(2),
    }),
  );
  tf.dispose([x, w, y, dy]);
}
shutdownWebGpu();
