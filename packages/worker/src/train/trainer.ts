// Trainer: the one train-step API of the product. A step is: for each micro-batch, gradients of
// the summed loss → added into one flat Float32Array; then (the sync point, done by the caller:
// all-reduce of that buffer across ranks) divide by the global sample count → one SGD update.
// Summing, not averaging, per micro-batch is what makes micro-batching and uneven per-rank slices
// give exactly the gradient of the whole global batch.
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { fuseBatchNormRelu } from '../model/fuse-batch-norm-relu';
import { fuseConcatParts } from '../model/fuse-concat-parts';
import { fuseConvBiasGradient } from '../model/fuse-conv-bias-grad';
import { fusePadMaxPool } from '../model/fuse-pad-max-pool';
import { GradientLayout } from './gradient-layout';
import { applyOnDevice } from './device-optimizers';
import { applyOnHost } from './host-optimizers';
import { LOGITS_SCORING, scoreBatch, type AnyBatch, type Scoring } from './score';

export interface OptimizerArgs {
  lr: number;
  /** PyTorch-style momentum (v = μ·v + g; w −= lr·v); 0 = plain SGD. */
  momentum?: number;
}

export interface MicroBatchResult {
  /** Summed cross-entropy over the micro-batch. */
  lossSum: number;
  correct: number;
  count: number;
  /** The scoring's further metrics, summed over the micro-batch (Scoring.metricNames order). */
  metrics: number[];
}

export class Trainer {
  readonly layout: GradientLayout;
  readonly optimizer: tf.Optimizer;
  /** The optimizer's own learning rate, which a schedule's factor multiplies. */
  private readonly baseLr: number;
  /** apply()'s mean gradient, reused from step to step. */
  private meanScratch: Float32Array | null = null;

  constructor(
    readonly model: tfl.LayersModel,
    opt: OptimizerArgs,
    /** The summed loss and correct count (a task's; default the seed's logits scoring). */
    readonly scoring: Scoring = LOGITS_SCORING,
    /** The optimizer the model was compiled with; null: SGD with `opt`'s lr and momentum. */
    optimizer: tf.Optimizer | null = null,
  ) {
    // BatchNorm (+ ReLU) layers train through the fused op, and conv layers with a bias through one
    // filter-and-bias gradient kernel where the backend has it (same weights, same saved model).
    fuseBatchNormRelu(model);
    // Dense blocks' concatenations that only BatchNorms read are never made (fuse-concat-parts.ts).
    fuseConcatParts(model);
    fuseConvBiasGradient(model);
    fusePadMaxPool(model);
    // Layer order: a fixed order that every rank derives identically from the same architecture.
    const vars = model.trainableWeights.map((w) => (w as unknown as { read(): tf.Variable }).read());
    this.layout = new GradientLayout(vars);
    const momentum = opt.momentum ?? 0;
    this.optimizer = optimizer ?? (momentum > 0 ? tf.train.momentum(opt.lr, momentum) : tf.train.sgd(opt.lr));
    this.baseLr = (this.optimizer as unknown as { learningRate: number }).learningRate;
  }

  /** A zeroed buffer for one step's gradient. */
  newGradientBuffer(): Float32Array {
    return new Float32Array(this.layout.size);
  }

  /**
   * Forward + backward on one micro-batch (BatchNorm in training mode), adding the gradient of the
   * summed loss into `acc`, or writing it there when not `add` (a step's first micro-batch: a copy
   * where the sum is a pass of additions). Disposes nothing of `batch`.
   */
  async accumulate(batch: AnyBatch, acc: Float32Array, add = true): Promise<MicroBatchResult> {
    const count = batch.y.shape[0]!;
    const metricCount = this.scoring.metricNames?.length ?? 0;
    if (count === 0) {
      if (!add) acc.fill(0);
      return { lossSum: 0, correct: 0, count: 0, metrics: new Array<number>(metricCount).fill(0) };
    }
    let kept: tf.Scalar[] = [];
    const { value, grads } = tf.variableGrads(() => {
      const out = this.model.apply(batch.x, { training: true }) as tf.Tensor;
      kept = [this.scoring.correct(batch.y, out), ...(this.scoring.metricSums?.(batch.y, out) ?? [])].map((t) => tf.keep(t));
      return this.scoring.lossSum(batch.y, out);
    }, this.layout.variables as tf.Variable[]);
    try {
      const [lossSum, correct, ...metrics] = await this.layout.flatten(grads, acc, add, [value, ...kept]);
      return { lossSum: lossSum!, correct: correct!, count, metrics };
    } finally {
      tf.dispose([value, ...kept, ...Object.values(grads)]);
    }
  }

  /**
   * Sets the optimizer's learning rate to `factor` × the rate it was built with (a schedule's
   * factor for the coming step). SGD and momentum keep the rate in a tensor (setLearningRate);
   * Adam, RMSProp and the others read their `learningRate` field at every update.
   */
  setLrFactor(factor: number): void {
    const lr = this.baseLr * factor;
    const o = this.optimizer as unknown as { learningRate: number; setLearningRate?: (lr: number) => void };
    if (o.learningRate === lr) return;
    if (typeof o.setLearningRate === 'function') o.setLearningRate(lr);
    else o.learningRate = lr;
  }

  /** Applies `sum / count` (the mean gradient over the global batch) with the optimizer. */
  apply(sum: Float32Array, count: number): void {
    if (count <= 0) throw new Error(`apply: global sample count must be positive, got ${count}`);
    const k = 1 / count;
    // SGD, momentum, Adam or RMSProp on webgpu: a few variables per dispatch, the sum divided as it
    // is read (device-optimizers.ts).
    if (applyOnDevice(this.optimizer, this.layout, sum, k)) return;
    // One array for every step's mean: the host update is done with it when it returns; tfjs'
    // tensors may keep what they are made from, so the stock update below gets a copy.
    const mean = (this.meanScratch ??= new Float32Array(sum.length));
    for (let i = 0; i < sum.length; i++) mean[i] = sum[i]! * k;
    // SGD, momentum, Adam or RMSProp on wasm or cpu: one loop on the host, no kernels
    // (host-optimizers.ts).
    if (applyOnHost(this.optimizer, this.layout, mean)) return;
    const grads = this.layout.unflatten(mean.slice());
    this.optimizer.applyGradients(grads);
    tf.dispose(Object.values(grads));
  }

  /** Loss and accuracy in inference mode (moving BatchNorm statistics). */
  evaluate(batch: AnyBatch): Promise<MicroBatchResult> {
    return scoreBatch(this.model, batch, this.scoring);
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
