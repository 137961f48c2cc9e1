// Plain SGD (tf.train.sgd, the seed's optimizer) computed on the host in one loop over the flat mean
// gradient, instead of two kernels per variable (Multiply, Add). The arithmetic is the stock
// update's, in float32 (w + (−lr)·g, each operation rounded to float32 as the wasm and cpu kernels
// do), so the weights are bit for bit those of the tfjs path. Each variable gets its new values as
// a new tensor (assign): never written in place, since the wasm backend caches XNNPACK operators
// with their packed weights by tensor (a dense layer would go on with stale weights). Only where
// the variables live in host memory (wasm, cpu: host-memory.ts); elsewhere, and for every other
// optimizer (momentum included), applyOnHost() says no and the caller takes the tfjs path.
import * as tf from '@tensorflow/tfjs-core';
import type { GradientLayout } from './gradient-layout';
import { hostBackend, hostView } from './host-memory';

interface StockSgd {
  learningRate: number;
  incrementIterations(): void;
}

/** Whether `opt` is tfjs's plain SGD (not a subclass such as momentum), with what this file uses of it. */
function plainSgd(opt: tf.Optimizer): StockSgd | null {
  // incrementIterations is protected in tfjs's typings: read through a structural view.
  const o = opt as unknown as Partial<StockSgd>;
  return opt.constructor === tf.SGDOptimizer && typeof o.learningRate === 'number' && typeof o.incrementIterations === 'function' ? (o as StockSgd) : null;
}

/**
 * Applies `mean` (the mean gradient, in `layout`'s order) to the variables with `opt`. False when
 * it cannot (not plain SGD, a device backend, a variable that is not float32): nothing was changed.
 */
export function applyOnHost(opt: tf.Optimizer, layout: GradientLayout, mean: Float32Array): boolean {
  const sgd = plainSgd(opt);
  if (sgd === null || !hostBackend()) return false;
  const vars = layout.variables;
  if (!vars.every((v) => v.dtype === 'float32')) return false;
  const c = Math.fround(-sgd.learningRate);
  const next = layout.entries.map((e, i) => {
    // A view, used before anything allocates (a wasm heap that grows detaches it).
    const w = hostView(vars[i]!);
    if (w === null) return null;
    const out = new Float32Array(e.size);
    const g = mean.subarray(e.offset, e.offset + e.size);
    for (let k = 0; k < e.size; k++) out[k] = Math.fround(w[k]! + Math.fround(c * g[k]!));
    return out;
  });
  if (next.some((n) => n === null)) return false;
  layout.entries.forEach((e, i) => {
    const t = tf.tensor(next[i]!, e.shape, 'float32');
    vars[i]!.assign(t);
    t.dispose();
  });
  sgd.incrementIterations();
  return true;
}
