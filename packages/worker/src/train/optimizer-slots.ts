// An optimizer's state as plain arrays, for checkpoints, resume and rank replacement: what
// getWeights() gives (the iteration count and every slot), plus what it leaves out and a restore
// would otherwise recompute: Adam's and Adamax's running β₁ᵗ and β₂ᵗ (tfjs' setWeights sets them to
// pow(β, t + 1), which is not bit for bit the product of t + 1 factors the uninterrupted run holds),
// and Adamax's step count for its decay. tfjs 4.22's Adamax has no getWeights or setWeights (both
// throw): optimizerWeights and setOptimizerWeights give it Adam's layout (the iteration count, the
// first moments, then the weighted infinity norms), for these state exchanges and the saved model.
import * as tf from '@tensorflow/tfjs-core';
import type { Slot } from './host-assign';

/** An optimizer weight as getWeights() gives it (tfjs-core's NamedTensor, which it does not export). */
type NamedTensor = Awaited<ReturnType<tf.Optimizer['getWeights']>>[number];

export interface OptimizerSlot {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Scalar variables some optimizers keep outside getWeights(); names without '/' cannot clash with slots. */
const RUNNING = ['accBeta1', 'accBeta2', 'iteration'] as const;
type WithRunning = Partial<Record<(typeof RUNNING)[number], tf.Variable>>;

/** What this file reads and writes of tfjs 4.22's AdamaxOptimizer and its Optimizer base (protected or private in their typings). */
interface StockAdamax {
  accumulatedFirstMoment: Slot[];
  accumulatedWeightedInfNorm: Slot[];
  saveIterations(): Promise<NamedTensor>;
  extractIterations(weights: NamedTensor[]): Promise<NamedTensor[]>;
}

/** opt.getWeights(); for Adamax, Adam's layout: the iteration count, the first moments, the weighted infinity norms. */
export async function optimizerWeights(opt: tf.Optimizer): Promise<NamedTensor[]> {
  if (opt.constructor !== tf.AdamaxOptimizer) return opt.getWeights();
  const o = opt as unknown as StockAdamax;
  const slots = [...o.accumulatedFirstMoment, ...o.accumulatedWeightedInfNorm].filter((x) => x !== undefined);
  return [await o.saveIterations(), ...slots.map((x) => ({ name: x.originalName, tensor: x.variable }))];
}

/** opt.setWeights(weights); for Adamax, weights as optimizerWeights gives them (its slots replaced, the old ones disposed). */
export async function setOptimizerWeights(opt: tf.Optimizer, weights: NamedTensor[]): Promise<void> {
  if (opt.constructor !== tf.AdamaxOptimizer) return opt.setWeights(weights);
  const o = opt as unknown as StockAdamax;
  const rest = await o.extractIterations(weights);
  const n = rest.length / 2;
  const slots = (part: NamedTensor[]) =>
    part.map((w) => ({ originalName: w.name, variable: w.tensor.variable(false) }));
  tf.dispose(
    [...o.accumulatedFirstMoment, ...o.accumulatedWeightedInfNorm].flatMap((x) =>
      x === undefined ? [] : [x.variable],
    ),
  );
  o.accumulatedFirstMoment = slots(rest.slice(0, n));
  o.accumulatedWeightedInfNorm = slots(rest.slice(n));
}

export async function readOptimizerSlots(opt: tf.Optimizer): Promise<OptimizerSlot[]> {
  const slots = await Promise.all(
    (await optimizerWeights(opt)).map(async (w) => ({
      name: w.name,
      shape: w.tensor.shape,
      // By value: the iteration count is an int32 scalar, and its bytes read as a float32
      // (2 → 2.8e-45) made a resumed Adam's bias correction restart from almost zero.
      data: Float32Array.from(await w.tensor.data()),
    })),
  );
  for (const name of RUNNING) {
    const v = (opt as unknown as WithRunning)[name];
    if (v instanceof tf.Variable) slots.push({ name, shape: [], data: Float32Array.from(await v.data()) });
  }
  return slots;
}

/** Puts slots read by readOptimizerSlots (or a checkpoint written before the running β were kept) back. */
export async function writeOptimizerSlots(opt: tf.Optimizer, slots: OptimizerSlot[]): Promise<void> {
  const isRunning = (n: string) => (RUNNING as readonly string[]).includes(n);
  await setOptimizerWeights(
    opt,
    slots
      .filter((s) => !isRunning(s.name))
      .map((s) => ({ name: s.name, tensor: tf.tensor(s.data, s.shape, 'float32') })),
  );
  for (const s of slots.filter((x) => isRunning(x.name))) {
    const v = (opt as unknown as WithRunning)[s.name as (typeof RUNNING)[number]];
    if (v instanceof tf.Variable) v.assign(tf.scalar(s.data[0]!));
  }
}
