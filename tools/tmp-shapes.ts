import * as tf from '@tensorflow/tfjs-core';
import { buildDenseNet, prepareBatch, selectBackend, Trainer } from '@tfjs-ddp/worker';
await selectBackend('wasm' as never);
const trainer = new Trainer(buildDenseNet({ inputSize: 96 }), { lr: 0.1 });
const batch = 64;
const images = Uint8Array.from({ length: batch * 28 * 28 }, (_, i) => (i * 2654435761) >>> 24);
const labels = Uint8Array.from({ length: batch }, (_, i) => i % 10);
const step = async () => {
  const b = prepareBatch(images, labels, 28, 28, 96);
  const g = trainer.newGradientBuffer();
  const r = await trainer.accumulate(b, g);
  trainer.apply(g, r.count);
  tf.dispose([b.x, b.y]);
};
await step();
const engine = tf.engine() as unknown as Record<string, (...a: unknown[]) => unknown>;
const orig = engine['runKernel']!;
const want = new Set(process.argv.slice(2));
const seen = new Map<string, { n: number; ms: number }>();
let depth = 0;
engine['runKernel'] = function (this: unknown, ...args: unknown[]) {
  const name = String(args[0]);
  if (depth > 0 || !want.has(name)) return orig.apply(this, args);
  depth++;
  const t0 = performance.now();
  try { return orig.apply(this, args); } finally {
    depth--;
    const inputs = args[1] as Record<string, tf.Tensor>;
    const key = `${name} ${Object.entries(inputs).map(([k, v]) => `${k}:${v?.dtype}[${v?.shape}]`).join(' ')} ${JSON.stringify(args[2] ?? {}).slice(0, 80)}`;
    const e = seen.get(key) ?? { n: 0, ms: 0 };
    e.n++; e.ms += performance.now() - t0; seen.set(key, e);
  }
};
await step();
for (const [k, e] of [...seen].sort((a, b) => b[1].ms - a[1].ms).slice(0, 40)) console.log(e.n, e.ms.toFixed(1), k);
