// WorkerEngine: everything one rank does with TensorFlow.js, behind plain-typed methods: build the
// model, turn a list of sample indices into a gradient sum (micro-batch by micro-batch), apply a
// reduced gradient, evaluate a shard of the test set, read/write BatchNorm statistics, save.
// Transport-free: the in-process group and the ZeroMQ worker process both drive it.
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import type { EvalOutcome, TrainConfig, WorkerDescription } from '@tfjs-ddp/core';
import { gatherImages, gatherLabels, type FashionMnist } from '@tfjs-ddp/data';
import { hostname } from 'node:os';
import type { BackendInfo } from '../backend/select-backend';
import { modelFiles, saveModelDir } from '../io/model-files';
import { buildDenseNet, trainableParamCount } from '../model/densenet';
import { prepareBatch } from '../train/input-pipeline';
import { Trainer } from '../train/trainer';

/** Extra floats appended to the gradient buffer so one all-reduce also sums the step's metrics. */
export const METRIC_SLOTS = 3; // lossSum, correct, count

/**
 * Default micro-batch when none is configured: measured wasm heap high-water of the DenseNet step,
 * 25.7 MiB per sample at 96×96 (docs/benchmarks.md, bench:step), scaled with the pixel count,
 * within a 1.6 GiB budget (the wasm heap is capped at 4 GiB and must also hold weights and
 * fragmentation). The memory-fit search replaces this estimate with a measurement.
 */
export function defaultMicroBatch(resize: number, budgetMiB = 1600): number {
  const perSample = 25.7 * (resize / 96) ** 2;
  return Math.max(1, Math.min(1024, Math.floor(budgetMiB / perSample)));
}

export interface ComputeResult {
  /** Gradient sum in layout order, then lossSum, correct, count. */
  buffer: Float32Array;
  dataMs: number;
  computeMs: number;
  microBatches: number;
}

export type EngineConfig = Pick<TrainConfig, 'lr' | 'momentum' | 'resize' | 'pool' | 'seed' | 'microBatch'> & {
  /** Tests only: the DenseNet without BatchNorm, whose gradient does not depend on how a batch is split. */
  batchNorm?: boolean;
};

export class WorkerEngine {
  readonly trainer: Trainer;
  readonly microBatch: number;
  private readonly bnVars: tf.Variable[];

  constructor(
    readonly data: FashionMnist,
    readonly config: EngineConfig,
    readonly backend: BackendInfo,
  ) {
    const model = buildDenseNet({ inputSize: config.resize, globalPool: config.pool, seed: config.seed, batchNorm: config.batchNorm ?? true });
    this.trainer = new Trainer(model, { lr: config.lr, momentum: config.momentum });
    this.microBatch = config.microBatch ?? defaultMicroBatch(config.resize);
    this.bnVars = model.weights
      .filter((w) => /moving_(mean|variance)/.test(w.name))
      .map((w) => (w as unknown as { read(): tf.Variable }).read());
  }

  /** Length of the buffer computeGradients fills (gradient + metric slots). */
  get bufferLength(): number {
    return this.trainer.layout.size + METRIC_SLOTS;
  }

  /** SHA-256 (hex, first 16 chars) of the weights in layout order: equal on all ranks, or diverged. */
  async weightsChecksum(): Promise<string> {
    const weights = await this.trainer.layout.readWeights();
    return createHash('sha256').update(new Uint8Array(weights.buffer)).digest('hex').slice(0, 16);
  }

  async describe(rank: number): Promise<WorkerDescription> {
    return {
      rank,
      pid: process.pid,
      host: hostname(),
      backend: this.backend.chosen,
      device: this.backend.device,
      params: trainableParamCount(this.trainer.model),
      weightsHash: await this.weightsChecksum(),
      microBatch: this.microBatch,
      trainCount: this.data.train.count,
      testCount: this.data.test.count,
    };
  }

  /** Forward/backward over `indices` in micro-batches; the gradient of the summed loss. */
  async computeGradients(indices: Uint32Array): Promise<ComputeResult> {
    const buffer = new Float32Array(this.bufferLength);
    const grad = buffer.subarray(0, this.trainer.layout.size);
    let dataMs = 0;
    let computeMs = 0;
    let lossSum = 0;
    let correct = 0;
    let microBatches = 0;
    for (let from = 0; from < indices.length; from += this.microBatch) {
      const part = indices.subarray(from, Math.min(indices.length, from + this.microBatch));
      const t0 = performance.now();
      const batch = prepareBatch(gatherImages(this.data.train, part), gatherLabels(this.data.train, part), this.data.rows, this.data.cols, this.config.resize);
      const t1 = performance.now();
      try {
        const r = await this.trainer.accumulate(batch, grad);
        lossSum += r.lossSum;
        correct += r.correct;
      } finally {
        tf.dispose([batch.x, batch.y]);
      }
      dataMs += t1 - t0;
      computeMs += performance.now() - t1;
      microBatches++;
    }
    const n = this.trainer.layout.size;
    buffer[n] = lossSum;
    buffer[n + 1] = correct;
    buffer[n + 2] = indices.length;
    return { buffer, dataMs, computeMs, microBatches };
  }

  /** Applies a buffer summed over all ranks: gradient / global count. Returns the summed metrics. */
  applyReduced(buffer: Float32Array): EvalOutcome {
    const n = this.trainer.layout.size;
    const count = buffer[n + 2]!;
    this.trainer.apply(buffer.subarray(0, n), count);
    return { lossSum: buffer[n]!, correct: buffer[n + 1]!, count };
  }

  /** Inference-mode loss and accuracy on test samples [start, end). */
  evaluate(start: number, end: number, batchSize = 4 * this.microBatch): EvalOutcome {
    const out: EvalOutcome = { lossSum: 0, correct: 0, count: 0 };
    for (let from = start; from < end; from += batchSize) {
      const idx = Uint32Array.from({ length: Math.min(end, from + batchSize) - from }, (_, k) => from + k);
      const batch = prepareBatch(gatherImages(this.data.test, idx), gatherLabels(this.data.test, idx), this.data.rows, this.data.cols, this.config.resize);
      try {
        const r = this.trainer.evaluate(batch);
        out.lossSum += r.lossSum;
        out.correct += r.correct;
        out.count += r.count;
      } finally {
        tf.dispose([batch.x, batch.y]);
      }
    }
    return out;
  }

  /** BatchNorm moving means and variances, flattened (they differ per rank during training). */
  async readBatchNormStats(): Promise<Float32Array> {
    const parts = await Promise.all(this.bnVars.map(async (v) => (await v.data()) as Float32Array));
    const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((off, p) => (out.set(p, off), off + p.length), 0);
    return out;
  }

  writeBatchNormStats(flat: Float32Array): void {
    let off = 0;
    for (const v of this.bnVars) {
      const t = tf.tensor(flat.subarray(off, off + v.size), v.shape);
      v.assign(t);
      t.dispose();
      off += v.size;
    }
  }

  /** The saved-model files (model, optimizer state, meta), for the coordinator to write. */
  async exportFiles(meta: Record<string, unknown>): Promise<Record<string, string | Uint8Array>> {
    return modelFiles(this.trainer.model, { optimizer: this.trainer.optimizer, meta });
  }

  async save(dir: string, meta: Record<string, unknown>): Promise<string[]> {
    return saveModelDir(this.trainer.model, dir, { optimizer: this.trainer.optimizer, meta });
  }

  dispose(): void {
    this.trainer.dispose();
    this.trainer.model.dispose();
  }
}
