// For the parts BatchNorm specs (batch-norm-parts-js.spec.ts, webgpu/batch-norm-parts-webgpu.spec.ts):
// seeded channel parts with some parts' pending gradients, and the same as one concatenated tensor
// for the plain kernels they are checked against.
import * as tf from '@tensorflow/tfjs-core';
import { randomArray, rng } from './conv-cases';

export interface PartsCase {
  parts: tf.Tensor[];
  /** Each part's pending gradient, or null. */
  accs: (tf.Tensor | null)[];
  gamma: tf.Tensor1D;
  beta: tf.Tensor1D;
  dy: tf.Tensor;
  /** The parts concatenated, and their pending gradients (zeros where none). */
  x: tf.Tensor;
  acc: tf.Tensor;
  /** The inputs x0, x1, … and acc0, acc1, … (those given) of the parts kernels. */
  named: tf.NamedTensorMap;
  accInputs: tf.NamedTensorMap;
  /** Every tensor made here. */
  all: tf.Tensor[];
  /** BN_GRAD_PARTS's inputs after BN_TRAIN_PARTS gave `forward` (y, mean, variance, 1/σ, …). */
  gradInputs(forward: tf.Tensor[], relu: boolean): tf.NamedTensorMap;
}

export function partsCase(lead: number[], widths: number[], withAcc: boolean[], seed: number): PartsCase {
  const r = rng(seed);
  const rows = lead.reduce((a, b) => a * b, 1);
  const C = widths.reduce((a, b) => a + b, 0);
  const parts = widths.map((c) =>
    tf.tensor(
      randomArray(rows * c, r).map((v) => v * 2 + 0.3),
      [...lead, c],
    ),
  );
  const accs = widths.map((c, p) => (withAcc[p] ? tf.tensor(randomArray(rows * c, r), [...lead, c]) : null));
  const gamma = tf.tensor1d(randomArray(C, r).map((v) => v + 1.2));
  const beta = tf.tensor1d(randomArray(C, r));
  const dy = tf.tensor(randomArray(rows * C, r), [...lead, C]);
  const x = tf.concat(parts, -1);
  const zeros = accs.map((a, p) => (a === null ? tf.zeros([...lead, widths[p]!]) : null));
  const acc = tf.concat(
    accs.map((a, p) => a ?? zeros[p]!),
    -1,
  );
  const named = Object.fromEntries(parts.map((t, i) => [`x${i}`, t]));
  const accInputs = Object.fromEntries(accs.flatMap((a, p) => (a === null ? [] : [[`acc${p}`, a]])));
  const made = [...parts, ...accs, ...zeros].filter((t): t is tf.Tensor => t !== null);
  const gradInputs = (forward: tf.Tensor[], relu: boolean) => ({
    dy,
    gamma,
    beta,
    mean: forward[1]!,
    invStd: forward[3]!,
    ...named,
    ...accInputs,
    ...(relu ? { y: forward[0]! } : {}),
  });
  const all = [...made, gamma, beta, dy, x, acc];
  return { parts, accs, gamma, beta, dy, x, acc, named, accInputs, all, gradInputs };
}
