import * as tf from '@tensorflow/tfjs-core';
import { buildDenseNet, prepareBatch, selectBackend, Trainer } from '@tfjs-ddp/worker';
await selectBackend('wasm' as never);
const trainer = new Trainer(buildDenseNet({ inputSize: 96 }), { lr: 0.1 });
const batch = 64;
const images = Uint8Array.from({ length: batch * 28 * 28 }, (_, i) => (i * 2654435761) >>> 24);
const labels = Uint8Array.from({ length: batch }, (_, i) => i % 10);
const engine = tf.engine() as unknown as Record<string, (...a: unknown[]) => unknown>;
const orig = engine['runKernel']!;
const seen = new Set<string>();
engine['runKernel'] = function (this: unknown, ...args: unknown[]) {
  const name = String(args[0]);
  if (name === process.argv[2] && !seen.has(name + JSON.stringify((args[1] as Record<string, tf.Tensor>)['x']?.shape ?? (args[1] as Record<string, tf.Tensor>)['a']?.shape))) {
    seen.add(name + JSON.stringify((args[1] as Record<string, tf.Tensor>)['x']?.shape ?? (args[1] as Record<string, tf.Tensor>)['a']?.shape));
    if (JSON.stringify((args[1] as Record<string, tf.Tensor>)['x']?.shape ?? (args[1] as Record<string, tf.Tensor>)['a']?.shape) === process.argv[3]) console.log(new Error().stack?.split('\n').slice(2, 12).join('\n'));
  }
  return orig.apply(this, args);
};
const b = prepareBatch(images, labels, 28, 28, 96);
const g = trainer.newGradientBuffer();
await trainer.accumulate(b, g);
trainer.apply(g, 64);
