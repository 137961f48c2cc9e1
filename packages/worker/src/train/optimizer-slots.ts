// An optimizer's state as plain arrays, for checkpoints, resume and rank replacement: what
// getWeights() gives (the iteration count and every slot), plus what it leaves out and a restore
// would otherwise recompute: Adam's and Adamax's running β₁ᵗ and β₂ᵗ (tfjs' setWeights sets them to
// pow(β, t + 1), which is not bit for bit the product of t + 1 factors the uninterrupted run holds).
import * as tf from '@tensorflow/tfjs-core';

export interface OptimizerSlot {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Scalar variables some optimizers keep outside getWeights(); names without '/' cannot clash with slots. */
const RUNNING = ['accBeta1', 'accBeta2'] as const;
type WithRunning = Partial<Record<(typeof RUNNING)[number], tf.Variable>>;

export async function readOptimizerSlots(opt: tf.Optimizer): Promise<OptimizerSlot[]> {
  const slots = await Promise.all(
    (await opt.getWeights()).map(async (w) => ({
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
  await opt.setWeights(
    slots
      .filter((s) => !isRunning(s.name))
      .map((s) => ({ name: s.name, tensor: tf.tensor(s.data, s.shape, 'float32') })),
  );
  for (const s of slots.filter((x) => isRunning(x.name))) {
    const v = (opt as unknown as WithRunning)[s.name as (typeof RUNNING)[number]];
    if (v instanceof tf.Variable) v.assign(tf.scalar(s.data[0]!));
  }
}
