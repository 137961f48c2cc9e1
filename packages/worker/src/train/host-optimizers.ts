// tfjs's SGD, momentum, Adam and RMSProp optimizers (tf.train.sgd, the seed's; tf.train.momentum,
// with or without Nesterov; tf.train.adam; tf.train.rmsprop, plain or centered) computed on the host in one loop over the flat mean gradient,
// instead of two to twelve kernels per variable. The arithmetic is the stock update's, in float32
// (each operation rounded to float32 as the wasm and cpu kernels do, the same scalars: the
// optimizer's own tensors or numbers), so weights and slots are bit for bit those of the tfjs path,
// and the slots stay the optimizer's own variables (getWeights, checkpoints). Each variable gets its
// new values as a new tensor (assign): never written in place, since the wasm backend caches
// XNNPACK operators with their packed weights by tensor (a dense layer would go on with stale
// weights). Adagrad, Adadelta and Adamax likewise in host-optimizers-more.ts. Only where the
// variables live in host memory (wasm, cpu: host-memory.ts); elsewhere, and for other optimizers (a
// subclass of any), applyOnHost() says no and the caller takes the tfjs path (device-optimizers.ts
// on webgpu).
import * as tf from '@tensorflow/tfjs-core';
import type { GradientLayout } from './gradient-layout';
import { assignNew, zeroSlot, type Slot } from './host-assign';
import { hostBackend, hostView } from './host-memory';
import { applyMoreOnHost } from './host-optimizers-more';

export { assignNew, zeroSlot, type Slot };

/** What this file reads of tfjs 4.22's SGDOptimizer (protected or private in its typings). */
interface StockSgd {
  c: tf.Scalar;
  incrementIterations(): void;
}
/** … and of its MomentumOptimizer. */
interface StockMomentum extends StockSgd {
  m: tf.Scalar;
  useNesterov: boolean;
  accumulations: Slot[];
}

/** … and of its AdamOptimizer. */
export interface StockAdam {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
  accumulatedSecondMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
  incrementIterations(): void;
}

/** … and of its RMSPropOptimizer. */
export interface StockRmsprop {
  learningRate: number;
  decay: number;
  momentum: number;
  epsilon: number;
  centered: boolean;
  accumulatedMeanSquares: Slot[];
  accumulatedMoments: Slot[];
  accumulatedMeanGrads: Slot[];
  incrementIterations(): void;
}

type Rule = { kind: 'sgd'; opt: StockSgd } | { kind: 'momentum'; opt: StockMomentum } | { kind: 'adam'; opt: StockAdam } | { kind: 'rmsprop'; opt: StockRmsprop };

/**
 * tfjs's plain SGD or momentum optimizer (exactly those classes) with what a device update needs: its
 * learning rate and momentum as numbers (no read back from a device), and the momentum slots; else null.
 */
export function sgdOrMomentum(opt: tf.Optimizer): { rule: 'sgd' | 'momentum' | 'nesterov'; learningRate: number; momentum: number; accumulations: Slot[]; incrementIterations(): void } | null {
  const rule = ruleOf(opt);
  const o = opt as unknown as { learningRate?: unknown; momentum?: unknown };
  if (typeof o.learningRate !== 'number') return null;
  if (rule?.kind === 'sgd') return { rule: 'sgd', learningRate: o.learningRate, momentum: 0, accumulations: [], incrementIterations: () => rule.opt.incrementIterations() };
  if (rule?.kind !== 'momentum' || typeof o.momentum !== 'number') return null;
  return { rule: rule.opt.useNesterov ? 'nesterov' : 'momentum', learningRate: o.learningRate, momentum: o.momentum, accumulations: rule.opt.accumulations, incrementIterations: () => rule.opt.incrementIterations() };
}

/** tfjs's Adam (exactly that class) with the fields a device update reads; else null. */
export function adamOf(opt: tf.Optimizer): StockAdam | null {
  const rule = ruleOf(opt);
  return rule?.kind === 'adam' ? rule.opt : null;
}

/** tfjs's RMSProp (exactly that class) with the fields a device update reads; else null. */
export function rmspropOf(opt: tf.Optimizer): StockRmsprop | null {
  const rule = ruleOf(opt);
  return rule?.kind === 'rmsprop' ? rule.opt : null;
}

/** tfjs's plain SGD, momentum, Adam or RMSProp (exactly those classes), with the fields this file uses; else null. */
function ruleOf(opt: tf.Optimizer): Rule | null {
  const o = opt as unknown as Partial<StockMomentum>;
  const sgdLike = o.c instanceof tf.Tensor && typeof o.incrementIterations === 'function';
  if (opt.constructor === tf.SGDOptimizer && sgdLike) return { kind: 'sgd', opt: o as StockSgd };
  if (opt.constructor === tf.MomentumOptimizer && sgdLike && o.m instanceof tf.Tensor && Array.isArray(o.accumulations) && typeof o.useNesterov === 'boolean') return { kind: 'momentum', opt: o as StockMomentum };
  const a = opt as unknown as Partial<StockAdam>;
  const numbers = [a.learningRate, a.beta1, a.beta2, a.epsilon].every((x) => typeof x === 'number');
  if (opt.constructor === tf.AdamOptimizer && numbers && a.accBeta1 instanceof tf.Variable && a.accBeta2 instanceof tf.Variable && Array.isArray(a.accumulatedFirstMoment) && Array.isArray(a.accumulatedSecondMoment) && typeof a.incrementIterations === 'function') return { kind: 'adam', opt: a as StockAdam };
  const r = opt as unknown as Partial<StockRmsprop>;
  const rNumbers = [r.learningRate, r.decay, r.momentum, r.epsilon].every((x) => typeof x === 'number');
  if (opt.constructor === tf.RMSPropOptimizer && rNumbers && typeof r.centered === 'boolean' && [r.accumulatedMeanSquares, r.accumulatedMoments, r.accumulatedMeanGrads].every(Array.isArray) && typeof r.incrementIterations === 'function') return { kind: 'rmsprop', opt: r as StockRmsprop };
  return null;
}

/**
 * Applies `mean` (the mean gradient, in `layout`'s order) to the variables with `opt`. False when
 * it cannot (another optimizer, a device backend, a variable that is not float32): nothing was changed.
 */
export function applyOnHost(opt: tf.Optimizer, layout: GradientLayout, mean: Float32Array): boolean {
  if (!hostBackend() || !layout.variables.every((v) => v.dtype === 'float32')) return false;
  const rule = ruleOf(opt);
  if (rule === null) return applyMoreOnHost(opt, layout, mean);
  const vars = layout.variables;
  const f = Math.fround;
  if (rule.kind === 'adam' || rule.kind === 'rmsprop') {
    if (!(rule.kind === 'adam' ? adam(rule.opt, layout, mean) : rmsprop(rule.opt, layout, mean))) return false;
    rule.opt.incrementIterations();
    return true;
  }
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
    vars.forEach((v, i) => (o.accumulations[i] ??= zeroSlot(v, 'momentum')));
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

/**
 * Adam as tfjs 4.22 computes it: m' = m·β₁ + g·(1 − β₁), v' = v·β₂ + g²·(1 − β₂), then
 * w' = (m'/(1 − β₁ᵗ)) / (√(v'/(1 − β₂ᵗ)) + ε) · (−lr) + w, and β₁ᵗ, β₂ᵗ times β₁, β₂; every number a
 * float32 as tfjs makes its scalars.
 */
function adam(o: StockAdam, layout: GradientLayout, mean: Float32Array): boolean {
  const f = Math.fround;
  const vars = layout.variables;
  vars.forEach((v, i) => {
    o.accumulatedFirstMoment[i] ??= zeroSlot(v, 'm');
    o.accumulatedSecondMoment[i] ??= zeroSlot(v, 'v');
  });
  const acc1 = f(o.accBeta1.dataSync()[0]!);
  const acc2 = f(o.accBeta2.dataSync()[0]!);
  const [b1, b2, rest1, rest2, eps, step] = [o.beta1, o.beta2, 1 - o.beta1, 1 - o.beta2, o.epsilon, -o.learningRate].map(f) as [number, number, number, number, number, number];
  const [c1, c2] = [f(1 - acc1), f(1 - acc2)];
  const next = layout.entries.map((e, i) => {
    const w = hostView(vars[i]!);
    const m = hostView(o.accumulatedFirstMoment[i]!.variable);
    const v = hostView(o.accumulatedSecondMoment[i]!.variable);
    if (w === null || m === null || v === null) return null;
    const out = { value: new Float32Array(e.size), m: new Float32Array(e.size), v: new Float32Array(e.size) };
    const g = mean.subarray(e.offset, e.offset + e.size);
    for (let k = 0; k < e.size; k++) {
      const gk = g[k]!;
      const m1 = f(f(m[k]! * b1) + f(gk * rest1));
      const v1 = f(f(v[k]! * b2) + f(f(gk * gk) * rest2));
      out.m[k] = m1;
      out.v[k] = v1;
      out.value[k] = f(f(f(f(m1 / c1) / f(f(Math.sqrt(f(v1 / c2))) + eps)) * step) + w[k]!);
    }
    return out;
  });
  if (next.some((n) => n === null)) return false;
  vars.forEach((v, i) => {
    assignNew(o.accumulatedFirstMoment[i]!.variable, next[i]!.m);
    assignNew(o.accumulatedSecondMoment[i]!.variable, next[i]!.v);
    assignNew(v, next[i]!.value);
  });
  assignNew(o.accBeta1, Float32Array.of(f(acc1 * b1)));
  assignNew(o.accBeta2, Float32Array.of(f(acc2 * b2)));
  return true;
}

/**
 * RMSProp as tfjs 4.22 computes it: s' = s·ρ + g²·(1 − ρ); plain, m' = m·μ + (g·lr)/√(s' + ε);
 * centered, ḡ' = ḡ·ρ + g·(1 − ρ) and m' = m·μ + (g·lr)/√(s' − (ḡ'² + ε)); then w' = w − m'. Every
 * number a float32 as tfjs makes its scalars, each operation rounded to float32.
 */
function rmsprop(o: StockRmsprop, layout: GradientLayout, mean: Float32Array): boolean {
  const f = Math.fround;
  const vars = layout.variables;
  vars.forEach((v, i) => {
    o.accumulatedMeanSquares[i] ??= zeroSlot(v, 'rms');
    o.accumulatedMoments[i] ??= zeroSlot(v, 'momentum');
    if (o.centered) o.accumulatedMeanGrads[i] ??= zeroSlot(v, 'mg');
  });
  const [rho, rest, mu, lr, eps] = [o.decay, 1 - o.decay, o.momentum, o.learningRate, o.epsilon].map(f) as [number, number, number, number, number];
  const next = layout.entries.map((e, i) => {
    const w = hostView(vars[i]!);
    const s = hostView(o.accumulatedMeanSquares[i]!.variable);
    const m = hostView(o.accumulatedMoments[i]!.variable);
    const mg = o.centered ? hostView(o.accumulatedMeanGrads[i]!.variable) : null;
    if (w === null || s === null || m === null || (o.centered && mg === null)) return null;
    const out = { value: new Float32Array(e.size), s: new Float32Array(e.size), m: new Float32Array(e.size), mg: o.centered ? new Float32Array(e.size) : null };
    const g = mean.subarray(e.offset, e.offset + e.size);
    for (let k = 0; k < e.size; k++) {
      const gk = g[k]!;
      const s1 = f(f(s[k]! * rho) + f(f(gk * gk) * rest));
      let denominator: number;
      if (mg !== null) {
        const mg1 = f(f(mg[k]! * rho) + f(gk * rest));
        out.mg![k] = mg1;
        denominator = f(Math.sqrt(f(s1 - f(f(mg1 * mg1) + eps))));
      } else {
        denominator = f(Math.sqrt(f(s1 + eps)));
      }
      const m1 = f(f(m[k]! * mu) + f(f(gk * lr) / denominator));
      out.s[k] = s1;
      out.m[k] = m1;
      out.value[k] = f(w[k]! - m1);
    }
    return out;
  });
  if (next.some((n) => n === null)) return false;
  vars.forEach((v, i) => {
    assignNew(o.accumulatedMeanSquares[i]!.variable, next[i]!.s);
    if (o.centered) assignNew(o.accumulatedMeanGrads[i]!.variable, next[i]!.mg!);
    assignNew(o.accumulatedMoments[i]!.variable, next[i]!.m);
    assignNew(v, next[i]!.value);
  });
  return true;
}
