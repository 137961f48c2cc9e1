// tfjs's SGD and momentum optimizers (tf.train.sgd, the seed's; tf.train.momentum, with or without
// Nesterov) computed on the host in one loop over the flat mean gradient, instead of two to five
// kernels per variable. The arithmetic is the stock update's, in float32 (each operation rounded to
// float32 as the wasm and cpu kernels do, the same scalars: the optimizer's own −lr and momentum
// tensors), so weights and momentum slots are bit for bit those of the tfjs path, and the slots stay
// the optimizer's own variables (getWeights, checkpoints). Each variable gets its new values as a new
// tensor (assign): never written in place, since the wasm backend caches XNNPACK operators with their
// packed weights by tensor (a dense layer would go on with stale weights). Only where the variables
// live in host memory (wasm, cpu: host-memory.ts); elsewhere, and for other optimizers (Adam,
// RMSProp, …), applyOnHost() says no and the caller takes the tfjs path.
import * as tf from '@tensorflow/tfjs-core';
import type { GradientLayout } from './gradient-layout';
import { hostBackend, hostView } from './host-memory';

/** What this file reads of tfjs 4.22's SGDOptimizer (protected or private in its typings). */
interface StockSgd {
  c: tf.Scalar;
  incrementIterations(): void;
}
/** … and of its MomentumOptimizer. */
interface StockMomentum extends StockSgd {
  m: tf.Scalar;
  useNesterov: boolean;
  accumulations: ({ originalName: string; variable: tf.Variable } | undefined)[];
}

type Rule = { kind: 'sgd'; opt: StockSgd } | { kind: 'momentum'; opt: StockMomentum };

/** tfjs's plain SGD or momentum (exactly those classes), with the fields this file uses; else null. */
function ruleOf(opt: tf.Optimizer): Rule | null {
  const o = opt as unknown as Partial<StockMomentum>;
  const sgdLike = o.c instanceof tf.Tensor && typeof o.incrementIterations === 'function';
  if (opt.constructor === tf.SGDOptimizer && sgdLike) return { kind: 'sgd', opt: o as StockSgd };
  if (opt.constructor === tf.MomentumOptimizer && sgdLike && o.m instanceof tf.Tensor && Array.isArray(o.accumulations) && typeof o.useNesterov === 'boolean') return { kind: 'momentum', opt: o as StockMomentum };
  return null;
}

/**
 * Applies `mean` (the mean gradient, in `layout`'s order) to the variables with `opt`. False when
 * it cannot (another optimizer, a device backend, a variable that is not float32): nothing was changed.
 */
export function applyOnHost(opt: tf.Optimizer, layout: GradientLayout, mean: Float32Array): boolean {
  const rule = ruleOf(opt);
  if (rule === null || !hostBackend()) return false;
  const vars = layout.variables;
  if (!vars.every((v) => v.dtype === 'float32')) return false;
  const f = Math.fround;
  const c = f(rule.opt.c.dataSync()[0]!);
  if (rule.kind === 'sgd') {
    const next = layout.entries.map((e, i) => {
      // A view, used before anything allocates (a wasm heap that grows detaches it).
      const w = hostView(vars[i]!);
      if (w === null) return null;
      const out = new Float32Array(e.size);
      const g = mean.subarray(e.offset, e.offset + e.size);
      for (let k = 0; k < e.size; k++) out[k] = f(w[k]! + f(c * g[k]!));
      return out;
    });
    if (next.some((n) => n === null)) return false;
    vars.forEach((v, i) => assignNew(v, next[i]!));
  } else {
    const o = rule.opt;
    const m = f(o.m.dataSync()[0]!);
    // The slots, made as the stock update makes them on its first step (zeros, not trainable).
    vars.forEach((v, i) => (o.accumulations[i] ??= { originalName: `${v.name}/momentum`, variable: tf.tidy(() => tf.zerosLike(v).variable(false)) }));
    const next = layout.entries.map((e, i) => {
      const w = hostView(vars[i]!);
      const a = hostView(o.accumulations[i]!.variable);
      if (w === null || a === null) return null;
      const value = new Float32Array(e.size);
      const accumulation = new Float32Array(e.size);
      const g = mean.subarray(e.offset, e.offset + e.size);
      for (let k = 0; k < e.size; k++) {
        const acc = f(f(m * a[k]!) + g[k]!);
        accumulation[k] = acc;
        value[k] = o.useNesterov ? f(f(c * f(g[k]! + f(acc * m))) + w[k]!) : f(f(c * acc) + w[k]!);
      }
      return { value, accumulation };
    });
    if (next.some((n) => n === null)) return false;
    vars.forEach((v, i) => {
      assignNew(o.accumulations[i]!.variable, next[i]!.accumulation);
      assignNew(v, next[i]!.value);
    });
  }
  rule.opt.incrementIterations();
  return true;
}

/** `v` takes `values` as a new tensor (new memory: see the file's head). */
function assignNew(v: tf.Variable, values: Float32Array): void {
  const t = tf.tensor(values, v.shape, 'float32');
  v.assign(t);
  t.dispose();
}
