// tfjs's Adagrad, Adadelta and Adamax optimizers (exactly those classes) on the host, as
// host-optimizers.ts computes SGD, momentum, Adam and RMSProp: one loop over the flat mean gradient
// instead of five to ten kernels per variable, each operation rounded to float32 as the stock
// kernels round it, with the optimizer's own scalars, so weights and slots are tfjs 4.22's bit for
// bit (host-optimizers.spec.ts), and new tensors each step (host-assign.ts). Only called where the
// variables live in host memory and are float32 (applyOnHost checks).
import * as tf from '@tensorflow/tfjs-core';
import type { GradientLayout } from './gradient-layout';
import { assignNew, zeroSlot, type Slot } from './host-assign';
import { hostView } from './host-memory';

/** What this file reads of tfjs 4.22's AdagradOptimizer (private in its typings). */
interface StockAdagrad {
  learningRate: number;
  initialAccumulatorValue: number;
  accumulatedGrads: Slot[];
  incrementIterations(): void;
}
/** … of its AdadeltaOptimizer. */
interface StockAdadelta {
  learningRate: number;
  rho: number;
  epsilon: number;
  accumulatedGrads: Slot[];
  accumulatedUpdates: Slot[];
  incrementIterations(): void;
}
/** … of its AdamaxOptimizer. */
interface StockAdamax {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  decay: number;
  accBeta1: tf.Variable;
  iteration: tf.Variable;
  accumulatedFirstMoment: Slot[];
  accumulatedWeightedInfNorm: Slot[];
  incrementIterations(): void;
}

const f = Math.fround;

/**
 * Runs `step(k, g, w, slots, out)` for every element k of every variable: g the mean gradient, w the
 * weight, slots the slots' values, `out` [new weight, new slots…]; then assigns them. False (nothing
 * changed) where a view is missing.
 */
function update(
  layout: GradientLayout,
  mean: Float32Array,
  slots: Slot[][],
  step: (g: number, w: number, s: number[], out: number[]) => void,
): boolean {
  const vars = layout.variables;
  const next = layout.entries.map((e, i) => {
    const w = hostView(vars[i]!);
    const views = slots.map((list) => hostView(list[i]!.variable));
    if (w === null || views.some((v) => v === null)) return null;
    const outs = [w, ...slots].map(() => new Float32Array(e.size));
    const g = mean.subarray(e.offset, e.offset + e.size);
    const s = new Array<number>(slots.length).fill(0);
    const out = new Array<number>(slots.length + 1).fill(0);
    for (let k = 0; k < e.size; k++) {
      for (let j = 0; j < views.length; j++) s[j] = views[j]![k]!;
      step(g[k]!, w[k]!, s, out);
      for (let j = 0; j < outs.length; j++) outs[j]![k] = out[j]!;
    }
    return outs;
  });
  if (next.some((n) => n === null)) return false;
  vars.forEach((v, i) => {
    slots.forEach((list, j) => assignNew(list[i]!.variable, next[i]![j + 1]!));
    assignNew(v, next[i]![0]!);
  });
  return true;
}

/** acc' = acc + g², w' = g / √(acc' + ε) · (−lr) + w, ε the backend's. */
function adagrad(o: StockAdagrad, layout: GradientLayout, mean: Float32Array): boolean {
  layout.variables.forEach(
    (v, i) => (o.accumulatedGrads[i] ??= zeroSlot(v, 'accumulator', o.initialAccumulatorValue)),
  );
  const [eps, step] = [tf.backend().epsilon(), -o.learningRate].map(f) as [number, number];
  return update(layout, mean, [o.accumulatedGrads], (g, w, [acc], out) => {
    const acc1 = f(acc! + f(g * g));
    out[1] = acc1;
    out[0] = f(f(f(g / f(Math.sqrt(f(acc1 + eps)))) * step) + w);
  });
}

/**
 * a' = a·ρ + g²·(1 − ρ); u = √(b + ε) / √(a + ε) · g with the old a (as tfjs 4.22 has it);
 * b' = b·ρ + u²·(1 − ρ); w' = u·(−lr) + w.
 */
function adadelta(o: StockAdadelta, layout: GradientLayout, mean: Float32Array): boolean {
  layout.variables.forEach((v, i) => {
    o.accumulatedGrads[i] ??= zeroSlot(v, 'accum_grad');
    o.accumulatedUpdates[i] ??= zeroSlot(v, 'accum_var');
  });
  const [rho, rest, eps, step] = [o.rho, 1 - o.rho, o.epsilon, -o.learningRate].map(f) as [
    number,
    number,
    number,
    number,
  ];
  return update(layout, mean, [o.accumulatedGrads, o.accumulatedUpdates], (g, w, [a, b], out) => {
    const a1 = f(f(a! * rho) + f(f(g * g) * rest));
    const u = f(f(f(Math.sqrt(f(b! + eps))) / f(Math.sqrt(f(a! + eps)))) * g);
    out[1] = a1;
    out[2] = f(f(b! * rho) + f(f(u * u) * rest));
    out[0] = f(f(u * step) + w);
  });
}

/**
 * lr_t = −lr / (t·decay + 1); m' = m·β₁ + g·(1 − β₁); u' = max(u·β₂, |g|);
 * w' = lr_t / (1 − β₁ᵗ) · (m' / (u' + ε)) + w; then t + 1 and β₁ᵗ·β₁.
 */
function adamax(o: StockAdamax, layout: GradientLayout, mean: Float32Array): boolean {
  layout.variables.forEach((v, i) => {
    o.accumulatedFirstMoment[i] ??= zeroSlot(v, 'm');
    o.accumulatedWeightedInfNorm[i] ??= zeroSlot(v, 'v');
  });
  const accBeta1 = f(o.accBeta1.dataSync()[0]!);
  const t = f(o.iteration.dataSync()[0]!);
  const [b1, rest1, b2, eps, decay] = [o.beta1, 1 - o.beta1, o.beta2, o.epsilon, o.decay].map(f) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const lr = f(f(-o.learningRate) / f(f(t * decay) + 1));
  const c = f(lr / f(1 - accBeta1));
  const done = update(
    layout,
    mean,
    [o.accumulatedFirstMoment, o.accumulatedWeightedInfNorm],
    (g, w, [m, u], out) => {
      const m1 = f(f(m! * b1) + f(g * rest1));
      const u1 = Math.max(f(u! * b2), Math.abs(g));
      out[1] = m1;
      out[2] = u1;
      out[0] = f(f(c * f(m1 / f(u1 + eps))) + w);
    },
  );
  if (!done) return false;
  assignNew(o.iteration, Float32Array.of(f(t + 1)));
  assignNew(o.accBeta1, Float32Array.of(f(accBeta1 * b1)));
  return true;
}

/** Applies Adagrad, Adadelta or Adamax (exactly those classes) on the host; false for any other optimizer, or where it cannot (nothing changed). */
export function applyMoreOnHost(opt: tf.Optimizer, layout: GradientLayout, mean: Float32Array): boolean {
  const o = opt as unknown as Record<string, unknown>;
  const numbers = (...keys: string[]) => keys.every((k) => typeof o[k] === 'number');
  const lists = (...keys: string[]) => keys.every((k) => Array.isArray(o[k]));
  let done = false;
  if (
    opt.constructor === tf.AdagradOptimizer &&
    numbers('learningRate', 'initialAccumulatorValue') &&
    lists('accumulatedGrads')
  ) {
    done = adagrad(o as unknown as StockAdagrad, layout, mean);
  } else if (
    opt.constructor === tf.AdadeltaOptimizer &&
    numbers('learningRate', 'rho', 'epsilon') &&
    lists('accumulatedGrads', 'accumulatedUpdates')
  ) {
    done = adadelta(o as unknown as StockAdadelta, layout, mean);
  } else if (
    opt.constructor === tf.AdamaxOptimizer &&
    numbers('learningRate', 'beta1', 'beta2', 'epsilon', 'decay') &&
    o['accBeta1'] instanceof tf.Variable &&
    o['iteration'] instanceof tf.Variable &&
    lists('accumulatedFirstMoment', 'accumulatedWeightedInfNorm')
  ) {
    done = adamax(o as unknown as StockAdamax, layout, mean);
  }
  if (done) (opt as unknown as { incrementIterations(): void }).incrementIterations();
  return done;
}
