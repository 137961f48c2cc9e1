// bench:grad-check — the seed DenseNet's loss and every gradient, as tfjs-ddp computes them on a
// backend (the fused BatchNorm op, the lean reverse pass; the conv filter-and-bias kernel where the
// backend has it), against PyTorch in float64 on the same weights and batch
// (tools/grad_check_torch.py, run with /usr/bin/python3 and Debian's python3-torch). Also PyTorch in
// float32, for scale: how far each float32 answer is from the float64 one. Prints one JSON line.
//   npm run bench:grad-check -- [--backend wasm|cpu|webgpu] [--size 32] [--batch 8] [--seed 1]
// TFJS_DDP_CPU_KERNELS=wasm compares the wasm fallback (no oneDNN) on the wasm backend.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { buildDenseNet, fuseBatchNormRelu, fuseConvBiasGradient, nativeKernels, selectBackend, shutdownWebGpu, type BackendChoice } from '@tfjs-ddp/worker';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    size: { type: 'string', default: '32' },
    batch: { type: 'string', default: '8' },
    seed: { type: 'string', default: '1' },
    python: { type: 'string', default: '/usr/bin/python3' },
  },
});
const [size, batch, seed] = [values.size, values.batch, values.seed].map(Number) as [number, number, number];
const info = await selectBackend(values.backend as BackendChoice);

const model = buildDenseNet({ inputSize: size, seed });
fuseBatchNormRelu(model);
fuseConvBiasGradient(model);
// A fixed batch: pixels in [0, 1) as the seed's scaled images, labels 0..9.
let state = seed * 7919 + 17;
const rand = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const pixels = Float32Array.from({ length: batch * size * size }, rand);
const labels = Int32Array.from({ length: batch }, (_, i) => (i * 7 + seed) % 10);
const x = tf.tensor4d(pixels, [batch, size, size, 1]);
const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 10);
const vars = model.trainableWeights.map((w) => (w as unknown as { read(): tf.Variable }).read());
const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, vars);

const dir = mkdtempSync(join(tmpdir(), 'grad-check-'));
const weights = await Promise.all(vars.map((v) => v.data()));
const gradients = await Promise.all(vars.map((v) => grads[v.name]!.data()));
const blob = (arrays: ArrayLike<number>[]) => Buffer.concat(arrays.map((a) => Buffer.from(Float32Array.from(a).buffer)));
writeFileSync(join(dir, 'weights.bin'), blob(weights));
writeFileSync(join(dir, 'grads.bin'), blob(gradients));
writeFileSync(join(dir, 'pixels.bin'), blob([pixels]));
writeFileSync(
  join(dir, 'manifest.json'),
  JSON.stringify({ size, batch, labels: Array.from(labels), loss: (await value.data())[0], variables: vars.map((v) => ({ name: v.name, shape: v.shape })) }),
);
const native = nativeKernels(info.tfBackend)?.provider ?? 'builtin';
await shutdownWebGpu();

const script = join(dirname(fileURLToPath(import.meta.url)), 'grad_check_torch.py');
let torch: Record<string, unknown>;
try {
  torch = JSON.parse(execFileSync(values.python, [script, dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })) as Record<string, unknown>;
} catch (e) {
  throw new Error(`bench:grad-check: ${values.python} ${script} failed (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); it needs PyTorch: apt-get install python3-torch`);
}
console.log(JSON.stringify({ bench: 'grad-check', backend: info.tfBackend, native, size, batch, seed, ...torch, dir }));
