// FastBatchNorm: tfjs-layers' BatchNormalization with a training-mode forward/backward written as
// one custom-gradient op. The stock layer differentiates through tf.moments and FusedBatchNorm's
// gradient, which tiles 1/σ to the full activation shape and keeps several activation-sized
// intermediates per layer; in the DenseNet step that was ~20% of the time (docs/kernels.md).
// With the fused kernels of kernels/batch-norm-relu.ts (wasm, cpu; webgpu's in kernels/webgpu) the op is one kernel forward
// and one backward, with a following ReLU folded in (fuse-batch-norm-relu.ts finds those in any
// model); elsewhere the composite below. Inference is the stock code. It serialises as a plain "BatchNormalization", so exported models
// load with stock tf.loadLayersModel. Used by densenet.ts.
import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap } from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { BN_GRAD, BN_GRAD_ACCUMULATES, BN_TRAIN, BN_TRAIN_MOVING, type BatchNormTrainAttrs } from '../kernels/batch-norm-relu';
import { BN_GRAD_PARTS, BN_TRAIN_PARTS } from '../kernels/batch-norm-parts';
import { concatParts, materialize } from './fuse-concat-parts';
import { takePendingGradient } from '../train/lean-backprop';
import { movingStatistics, type MovingRule } from './moving-statistics';

type BatchNormArgs = Parameters<typeof tfl.layers.batchNormalization>[0];
type Kwargs = Record<string, unknown>;

/** The private state of tfjs-layers' BatchNormalization that the training path reads. */
interface BatchNormState {
  axis: number;
  momentum: number;
  epsilon: number;
  gamma: tfl.LayerVariable;
  beta: tfl.LayerVariable;
  movingMean: tfl.LayerVariable;
  movingVariance: tfl.LayerVariable;
}

/** The stock class, reached through an instance: tfjs-layers does not export it by name. */
const StockBatchNorm = Object.getPrototypeOf(tfl.layers.batchNormalization({})).constructor as new (
  args?: BatchNormArgs,
) => tfl.layers.Layer;

/** A layer's moving statistics, for the kernels that update them in the same pass (BN_TRAIN_MOVING). */
export interface MovingState {
  rule: MovingRule;
  mean: tf.Tensor;
  variance: tf.Tensor;
  momentum: number;
}

/**
 * Training-mode batch norm over every axis but the last: y = γ·(x − μ)/σ + β with batch statistics.
 * Returns y and the batch mean and biased variance, and where the kernel updated `moving` in the
 * same pass (BN_TRAIN_MOVING), their new values in `moved`; else the caller updates them.
 */
export function batchNormTraining(
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon: number,
  /** max(0, y) as well: the BatchNorm and the ReLU that follows it as one op. */
  relu = false,
  moving?: MovingState,
): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D; moved?: [tf.Tensor, tf.Tensor] } {
  if (x.dtype === 'float32' && x.size > 0 && tf.getKernel(BN_TRAIN, tf.getBackend()) !== undefined)
    return fusedTraining(x, gamma, beta, epsilon, relu, moving);
  if (relu) {
    const r = batchNormTraining(x, gamma, beta, epsilon);
    return { ...r, y: tf.relu(r.y) };
  }
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const n = x.size / x.shape[x.shape.length - 1]!;
  let mean!: tf.Tensor1D;
  let variance!: tf.Tensor1D;
  const op = tf.customGrad((...args: (tf.Tensor | ((t: tf.Tensor[]) => void))[]) => {
    const [xi, g, b] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
    const save = args[3] as (t: tf.Tensor[]) => void;
    const m = tf.moments(xi, axes);
    mean = tf.keep(m.mean as tf.Tensor1D);
    variance = tf.keep(m.variance as tf.Tensor1D);
    const y = tf.batchNorm(xi, mean, variance, b, g, epsilon);
    const invStd = tf.rsqrt(tf.add(variance, epsilon));
    save([xi, mean, invStd, g]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const dyT = dy as tf.Tensor;
        const [xs, mu, is, gs] = saved as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
        // dβ = Σdy, dγ = Σ dy·x̂ and dx = γ/σ · (dy − dβ/n − x̂·dγ/n), with x̂ = (x − μ)/σ. The last
        // two terms are one per-channel affine map of x, done by the FusedBatchNorm kernel.
        const dBeta = tf.sum(dyT, axes) as tf.Tensor1D;
        const dGamma = tf.mul(tf.sum(tf.mul(dyT, tf.sub(xs, mu)), axes), is) as tf.Tensor1D;
        const k1 = tf.mul(gs, is); // γ/σ
        const a = tf.neg(tf.div(tf.mul(tf.mul(k1, is), dGamma), n)); // −γ/σ² · dγ/n
        const c = tf.sub(tf.neg(tf.div(tf.mul(k1, dBeta), n)), tf.mul(a, mu)); // −γ/σ·dβ/n − a·μ
        const unitVar = tf.fill(mu.shape, 1 - epsilon) as tf.Tensor1D;
        const affine = tf.batchNorm(xs, tf.zerosLike(mu), unitVar, c, a, epsilon); // a·x + c
        const dx = tf.add(tf.mul(dyT, k1), affine);
        return [dx, dGamma, dBeta];
      },
    };
  });
  const y = op(x, gamma, beta);
  return { y, mean, variance };
}

/**
 * The forward kernel's attributes, and its inputs besides x and γ, β: the moving statistics where
 * the backend updates them in the same pass (BN_TRAIN_MOVING) and they fit C channels.
 */
function trainingArgs(
  C: number,
  epsilon: number,
  relu: boolean,
  moving?: MovingState,
): { attrs: BatchNormTrainAttrs; extra: tf.NamedTensorMap } {
  const withMoving =
    moving !== undefined &&
    BN_TRAIN_MOVING.has(tf.getBackend()) &&
    [moving.mean, moving.variance].every((t) => t.dtype === 'float32' && t.rank === 1 && t.size === C);
  if (!withMoving) return { attrs: { epsilon, relu }, extra: {} };
  return {
    attrs: { epsilon, relu, movingRule: moving.rule, momentum: moving.momentum },
    extra: { movingMean: moving.mean, movingVariance: moving.variance },
  };
}

/** The kernels' op: one kernel forward, one backward (saved: x, y, μ, 1/σ, γ, β). */
function fusedTraining(
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon: number,
  relu: boolean,
  moving?: MovingState,
): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D; moved?: [tf.Tensor, tf.Tensor] } {
  let mean!: tf.Tensor1D;
  let variance!: tf.Tensor1D;
  let moved: [tf.Tensor, tf.Tensor] | undefined;
  const { attrs, extra } = trainingArgs(x.shape[x.shape.length - 1]!, epsilon, relu, moving);
  const op = tf.customGrad((...args: (tf.Tensor | ((t: tf.Tensor[]) => void))[]) => {
    const [xi, g, b] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
    const save = args[3] as (t: tf.Tensor[]) => void;
    const run = (name: string, inputs: tf.NamedTensorMap, a: object) =>
      tf.engine().runKernel(name, inputs, a as NamedAttrMap) as tf.Tensor[];
    const [y, m, v, invStd, nm, nv] = run(BN_TRAIN, { x: xi, gamma: g, beta: b, ...extra }, attrs) as [
      tf.Tensor,
      tf.Tensor1D,
      tf.Tensor1D,
      tf.Tensor1D,
      tf.Tensor?,
      tf.Tensor?,
    ];
    mean = tf.keep(m);
    variance = tf.keep(v);
    if (nm !== undefined && nv !== undefined) moved = [tf.keep(nm), tf.keep(nv)];
    // y only for the ReLU's mask (the native kernel recomputes it from x and β instead): without
    // the ReLU, x again (no activation-sized tensor more to keep).
    save([xi, relu ? y : xi, m, invStd, g, b]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xs, ys, mu, is, gs, bs] = saved as [
          tf.Tensor,
          tf.Tensor,
          tf.Tensor1D,
          tf.Tensor1D,
          tf.Tensor1D,
          tf.Tensor1D,
        ];
        // x's gradient from its other consumers so far, added by the kernel where it can.
        const acc = BN_GRAD_ACCUMULATES.has(tf.getBackend()) ? takePendingGradient(xi) : null;
        const [dx, dGamma, dBeta] = run(
          BN_GRAD,
          { dy: dy as tf.Tensor, x: xs, y: ys, mean: mu, invStd: is, gamma: gs, beta: bs, ...(acc === null ? {} : { acc }) },
          { relu },
        );
        acc?.dispose();
        return [dx!, dGamma!, dBeta!];
      },
    };
  });
  const y = op(x, gamma, beta);
  return { y, mean, variance, ...(moved === undefined ? {} : { moved }) };
}

/**
 * The parts kernels' op over `parts`, the channel parts of a concatenation that is never made
 * (fuse-concat-parts.ts): one kernel forward, one backward, which returns each part's gradient with
 * that part's pending gradient from its other readers added (saved: the parts, μ, 1/σ, γ, β, and
 * under a ReLU y, which the webgpu kernel reads for its mask and the conv after it keeps anyway).
 */
function fusedTrainingParts(
  parts: tf.Tensor[],
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon: number,
  relu: boolean,
  moving?: MovingState,
): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D; moved?: [tf.Tensor, tf.Tensor] } {
  let mean!: tf.Tensor1D;
  let variance!: tf.Tensor1D;
  let moved: [tf.Tensor, tf.Tensor] | undefined;
  const n = parts.length;
  const { attrs, extra } = trainingArgs(gamma.size, epsilon, relu, moving);
  const named = (ts: tf.Tensor[], prefix: string) => Object.fromEntries(ts.map((t, i) => [`${prefix}${i}`, t]));
  const op = tf.customGrad((...args: (tf.Tensor | ((t: tf.Tensor[]) => void))[]) => {
    const ps = args.slice(0, n) as tf.Tensor[];
    const [g, b] = args.slice(n, n + 2) as [tf.Tensor1D, tf.Tensor1D];
    const save = args[n + 2] as (t: tf.Tensor[]) => void;
    const [y, m, v, invStd, nm, nv] = tf.engine().runKernel(BN_TRAIN_PARTS, { gamma: g, beta: b, ...named(ps, 'x'), ...extra }, attrs as unknown as NamedAttrMap) as tf.Tensor[];
    mean = tf.keep(m as tf.Tensor1D);
    variance = tf.keep(v as tf.Tensor1D);
    if (nm !== undefined && nv !== undefined) moved = [tf.keep(nm), tf.keep(nv)];
    save([...ps, m!, invStd!, g, b, ...(relu ? [y!] : [])]);
    return {
      value: y!,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const xs = saved.slice(0, n);
        const [mu, is, gs, bs, ys] = saved.slice(n) as [tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Tensor?];
        // Each part's gradient from its other readers so far, added by the kernel.
        const accs = ps.map((p) => takePendingGradient(p));
        const accInputs = Object.fromEntries(accs.flatMap((a, i) => (a === null ? [] : [[`acc${i}`, a]])));
        const out = tf.engine().runKernel(BN_GRAD_PARTS, { dy: dy as tf.Tensor, gamma: gs, beta: bs, mean: mu, invStd: is, ...named(xs, 'x'), ...accInputs, ...(ys === undefined ? {} : { y: ys }) }, { relu } as unknown as NamedAttrMap) as tf.Tensor[];
        accs.forEach((a) => a?.dispose());
        return out;
      },
    };
  });
  const y = op(...parts, gamma, beta);
  return { y, mean, variance, ...(moved === undefined ? {} : { moved }) };
}

/**
 * The training-mode call of a BatchNormalization layer (stock or FastBatchNorm): batch statistics,
 * moving averages updated as the layer's own code does (FastBatchNorm: as PyTorch); `relu` folds the ReLU that follows it in. Undefined
 * where the layer's own call must run (inference, a channel axis that is not the last).
 */
export function batchNormTrainingCall(
  layer: tfl.layers.Layer,
  inputs: tf.Tensor | tf.Tensor[],
  kwargs: Kwargs,
  relu: boolean,
): tf.Tensor | undefined {
  const s = layer as unknown as BatchNormState;
  const input = Array.isArray(inputs) ? inputs[0]! : inputs;
  const axis = s.axis >= 0 ? s.axis : s.axis + input.rank;
  // center: false or scale: false layers have no β or γ: the stock code handles those.
  if (kwargs['training'] !== true || axis !== input.rank - 1 || !s.gamma || !s.beta) return undefined;
  const parts = concatParts(input);
  return tf.tidy(() => {
    // The seed's layer keeps PyTorch's rule (the unbiased variance in its running estimate); a stock
    // layer, tfjs-layers' (moving-statistics.ts).
    const rule = layer instanceof FastBatchNorm ? 'pytorch' : 'tfjs';
    const moving: MovingState = { rule, mean: s.movingMean.read(), variance: s.movingVariance.read(), momentum: s.momentum };
    const [gamma, beta] = [s.gamma.read() as tf.Tensor1D, s.beta.read() as tf.Tensor1D];
    // A placeholder for a concatenation never made (fuse-concat-parts.ts): its parts where they are.
    const { y, mean, variance, moved } = parts === undefined ? batchNormTraining(input, gamma, beta, s.epsilon, relu, moving) : fusedTrainingParts(parts, gamma, beta, s.epsilon, relu, moving);
    const n = parts === undefined ? input.size / input.shape[axis]! : parts[0]!.size / parts[0]!.shape[parts[0]!.rank - 1]!;
    const [movingMean, movingVariance] = moved ?? movingStatistics(rule, moving.mean, moving.variance, mean, variance, s.momentum, n);
    s.movingMean.write(movingMean);
    s.movingVariance.write(movingVariance);
    // The kernel's new moving statistics were kept past this tidy (the variables now hold their data).
    tf.dispose([mean, variance, ...(moved ?? [])]);
    return y;
  });
}

export class FastBatchNorm extends StockBatchNorm {
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    return batchNormTrainingCall(this, inputs, kwargs, false) ?? super.call(materialize(inputs), kwargs);
  }
}

/** A drop-in for tfl.layers.batchNormalization with the fast training path. */
export function fastBatchNormalization(args: BatchNormArgs): tfl.layers.Layer {
  return new FastBatchNorm(args);
}
