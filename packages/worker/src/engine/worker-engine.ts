// WorkerEngine: everything one rank does with TensorFlow.js, behind plain-typed methods: build the
// model, turn a list of sample indices into a gradient sum (micro-batch by micro-batch), apply a
// reduced gradient, evaluate a shard of the test set, read/write BatchNorm statistics, save.
// Transport-free: the in-process group and the ZeroMQ worker process both drive it.
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import {
  DdpError,
  formatBytes,
  gradientDigest,
  type EvalOutcome,
  type GradientDigest,
  type MemoryFitReport,
  type TraceSpan,
  type TrainConfig,
  type WorkerDescription,
} from '@tfjs-ddp/core';
import { hostname } from 'node:os';
import type { BackendInfo } from '../backend/select-backend';
import { loseGpuDevice } from '../backend/webgpu';
import { withGpuErrorScopes } from '../backend/webgpu-scopes';
import { isBackendCorrupted, isOutOfMemoryError, taskStepError } from './memory-errors';
import { modelFiles, saveModelDir } from '../io/model-files';
import { trainableParamCount } from '../model/densenet';
import { evaluateSplit } from '../task/evaluate-split';
import { optimizerName, type Task } from '../task/task-runtime';
import { readOptimizerSlots, writeOptimizerSlots } from '../train/optimizer-slots';
import { sharedCopy } from '../kernels/share-identity';
import { Trainer } from '../train/trainer';
import { flipExponentBit } from './flip-exponent-bit';

/**
 * Extra floats appended to the gradient buffer so one all-reduce also sums the step's metrics and
 * tells every rank whether any rank ran out of memory: lossSum, correct, count, aborted; then the
 * task's own metrics (Task.metricNames), summed.
 */
export const METRIC_SLOTS = 4;

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
  /** Gradient sum in layout order, then lossSum, correct, count, aborted (see METRIC_SLOTS), then the task's metric sums. */
  buffer: Float32Array;
  dataMs: number;
  computeMs: number;
  microBatches: number;
  /**
   * Per micro-batch: its span, and in it the data preparation and the forward+backward pass
   * (performance.now() ms, for the run's timeline).
   */
  spans: TraceSpan[];
  /** Set when this rank ran out of memory: the buffer then holds zeros and aborted = 1. */
  oom: { microBatch: number; reason: string; fatal?: boolean } | null;
  /** On an audit step (StepContext.audit): the digest of the first micro-batch's gradient, as contributed. */
  firstDigest?: GradientDigest;
}

export type EngineConfig = Pick<TrainConfig, 'lr' | 'momentum' | 'resize' | 'pool' | 'seed'> & {
  /** Capacity: the largest micro-batch (from the memory-fit search or --micro-batch); default: the estimate. */
  microBatch?: number | 'auto' | null;
  /** Tests only: the DenseNet without BatchNorm, whose gradient does not depend on how a batch is split. */
  batchNorm?: boolean;
};

/** Where and why a step's computation is running (for out-of-memory reports and injected faults). */
export interface StepContext {
  rank: number;
  step: number;
  attempt: number;
  /** An audit step: digest the first micro-batch's gradient (ComputeResult.firstDigest). */
  audit?: boolean;
}

export interface EngineOptions {
  /** The memory-fit search's result, used to refuse a micro-batch predicted not to fit. */
  memoryFit?: MemoryFitReport | null;
  /** (rank, step) pairs where the first attempt fails with an injected out-of-memory (TFJS_DDP_INJECT_OOM). */
  injectOom?: { rank: number; step: number }[];
  /** (rank, step) pairs where the first attempt's GPU error scope reports an out-of-memory (TFJS_DDP_INJECT_GPU_OOM; webgpu only). */
  injectGpuOom?: { rank: number; step: number }[];
  /** (rank, step) pairs where the first attempt starts by destroying the GPU device (TFJS_DDP_INJECT_DEVICE_LOST; webgpu only). */
  injectDeviceLost?: { rank: number; step: number }[];
  /** (rank, step) pairs where the first attempt reports a crashed backend (TFJS_DDP_INJECT_CRASH). */
  injectCrash?: { rank: number; step: number }[];
  /** (rank, step) pairs where the first attempt's gradient gets a NaN (TFJS_DDP_INJECT_NAN). */
  injectNan?: { rank: number; step: number }[];
  /** (rank, step) pairs where the first attempt's gradient gets a flipped exponent bit (TFJS_DDP_INJECT_BITFLIP). */
  injectBitflip?: { rank: number; step: number }[];
}

/** A rank's training state, to re-sync a replaced rank: weights, BatchNorm statistics, optimizer slots. */
export interface EngineState {
  weights: Float32Array;
  batchNorm: Float32Array;
  optimizer: { name: string; shape: number[]; data: Float32Array }[];
}

/**
 * Whether every value is finite. A sum is NaN or ±Infinity iff some term is (float32 terms cannot
 * overflow a float64 sum), so one pass of additions decides it.
 */
export function allFinite(values: Float32Array): boolean {
  // Four independent sums: one chain of dependent additions over 758k values took 3.4 ms a step.
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const n = values.length;
  const whole = n - (n % 4);
  let i = 0;
  for (; i < whole; i += 4) {
    s0 += values[i]!;
    s1 += values[i + 1]!;
    s2 += values[i + 2]!;
    s3 += values[i + 3]!;
  }
  for (; i < n; i++) s0 += values[i]!;
  return Number.isFinite(s0 + s1 + s2 + s3);
}

/** Thrown inside computeGradients when a micro-batch does not (or would not) fit. */
class OutOfMemory extends Error {}

/** TFJS_DDP_INJECT_OOM / TFJS_DDP_INJECT_CRASH=RANK:STEP[,RANK:STEP…]: fault injection for tests and drills. */
export function parseInjectOom(
  raw: string | undefined,
  name = 'TFJS_DDP_INJECT_OOM',
): { rank: number; step: number }[] {
  if (raw === undefined || raw.trim() === '') return [];
  return raw.split(',').map((part) => {
    const m = /^\s*(\d+):(\d+)\s*$/.exec(part);
    if (m === null)
      throw new DdpError('E_CONFIG', `${name} entry "${part}" is not RANK:STEP`, `e.g. ${name}=1:3`);
    return { rank: Number(m[1]), step: Number(m[2]) };
  });
}

export class WorkerEngine {
  readonly trainer: Trainer;
  readonly microBatch: number;
  private readonly bnVars: tf.Variable[];
  /** BatchNorm moving statistics as they were before the step in progress (restored if it is aborted). */
  private bnSnapshot: tf.Tensor[] | null = null;

  constructor(
    /** The model, its data and its scoring (task/task-runtime.ts). */
    readonly task: Task,
    readonly config: EngineConfig,
    readonly backend: BackendInfo,
    readonly options: EngineOptions = {},
  ) {
    const model = task.model;
    this.trainer = new Trainer(model, { lr: config.lr, momentum: config.momentum }, task, task.optimizer);
    this.microBatch =
      typeof config.microBatch === 'number' ? config.microBatch : defaultMicroBatch(config.resize);
    // Every non-trainable weight (BatchNorm's moving statistics in the seed, in the order they had
    // when found by name): what differs per rank during training, averaged before evaluation.
    this.bnVars = model.nonTrainableWeights.map((w) => (w as unknown as { read(): tf.Variable }).read());
  }

  /** Length of the buffer computeGradients fills (gradient + metric slots). */
  get bufferLength(): number {
    return this.trainer.layout.size + METRIC_SLOTS + this.task.metricNames.length;
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
      adapter:
        this.backend.adapter === null
          ? null
          : (({ vendor, architecture, description, software, selection, subgroupMatrix }) => ({
              vendor,
              architecture,
              description,
              software,
              selection,
              subgroupMatrix,
            }))(this.backend.adapter),
      params: trainableParamCount(this.trainer.model),
      weightsHash: await this.weightsChecksum(),
      microBatch: this.microBatch,
      memoryFit: this.options.memoryFit ?? null,
      trainCount: this.task.train.size,
      testCount: this.task.test?.size ?? 0,
      task: this.task.modules,
      metricNames: [...this.task.metricNames],
      optimizer: this.task.optimizer === null ? null : optimizerName(this.task.optimizer),
    };
  }

  /** Why a micro-batch of `m` must not run (injected fault, or predicted not to fit), or null. */
  /** Set once the backend crashed: nothing may run on it any more. */
  dead: string | null = null;

  /** Whether a fault is injected at this step's first attempt. */
  private injected(at: { rank: number; step: number }[] | undefined, ctx: StepContext | undefined): boolean {
    return (
      ctx !== undefined &&
      ctx.attempt === 0 &&
      (at ?? []).some((f) => f.rank === ctx.rank && f.step === ctx.step)
    );
  }

  private refusal(m: number, ctx: StepContext | undefined): string | null {
    if (this.injected(this.options.injectOom, ctx)) {
      return 'injected (TFJS_DDP_INJECT_OOM)';
    }
    const fit = this.options.memoryFit;
    if (fit && fit.baseBytes !== null && fit.bytesPerSample !== null && m > this.microBatch) {
      const predicted = fit.baseBytes + fit.bytesPerSample * m;
      if (predicted > fit.usableBytes)
        return `predicted ${formatBytes(predicted)} > usable ${formatBytes(fit.usableBytes)}`;
    }
    return null;
  }

  /**
   * Forward/backward over `indices`, `microBatch` samples at a time; the gradient of the summed loss.
   * Out of memory (a TensorFlow OOM, a micro-batch predicted not to fit, an injected fault) is not
   * thrown: the result says so and its buffer asks every rank to abort the step (aborted slot = 1),
   * so that the all-reduce still completes on every rank and the step can be replayed.
   */
  async computeGradients(
    indices: Uint32Array,
    microBatch = this.microBatch,
    ctx?: StepContext,
  ): Promise<ComputeResult> {
    this.snapshotBatchNorm();
    const buffer = new Float32Array(this.bufferLength);
    const grad = buffer.subarray(0, this.trainer.layout.size);
    const n = this.trainer.layout.size;
    let dataMs = 0;
    let computeMs = 0;
    let lossSum = 0;
    let correct = 0;
    const metricSums = new Array<number>(this.task.metricNames.length).fill(0);
    let microBatches = 0;
    const spans: TraceSpan[] = [];
    let firstDigest: GradientDigest | undefined;
    const m = Math.max(1, Math.min(microBatch, indices.length));
    try {
      for (let from = 0; from < indices.length; from += m) {
        // A turn for the event loop between micro-batches (wasm resolves awaits as microtasks): the
        // control channel answers the coordinator's pings, which tell it this rank is alive.
        if (from > 0) await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.injected(this.options.injectDeviceLost, ctx)) loseGpuDevice();
        if (this.injected(this.options.injectCrash, ctx)) {
          throw new Error('memory access out of bounds (injected: TFJS_DDP_INJECT_CRASH)');
        }
        const refused = this.refusal(m, ctx);
        if (refused !== null) throw new OutOfMemory(refused);
        const part = indices.subarray(from, Math.min(indices.length, from + m));
        const t0 = performance.now();
        let t1 = t0;
        // On webgpu, inside error scopes: a GPUOutOfMemoryError is an OOM here, not a corrupt result.
        // The batch's upload and resize allocate on the GPU too, so they are inside.
        const injectOom = this.injected(this.options.injectGpuOom, ctx);
        const r = await withGpuErrorScopes(
          async () => {
            const { xs, ys } = await this.task.batch(this.task.train, part);
            t1 = performance.now();
            try {
              // The first micro-batch writes the buffer (it starts at zero), the others add to it.
              return await this.trainer.accumulate({ x: xs, y: ys }, grad, microBatches > 0);
            } finally {
              tf.dispose([xs, ys]);
            }
          },
          // Micro-batches of one size repeat their GPU buffer requests: planned after the first.
          { injectOom, plan: `train:${part.length}` },
        );
        lossSum += r.lossSum;
        correct += r.correct;
        r.metrics.forEach((v, j) => (metricSums[j]! += v));
        const t2 = performance.now();
        dataMs += t1 - t0;
        computeMs += t2 - t1;
        microBatches++;
        // The grad buffer starts at zero, so after the first micro-batch it is that micro-batch's
        // gradient exactly: what the audit's recomputation by another rank must reproduce.
        if (microBatches === 1) {
          if (this.injected(this.options.injectBitflip, ctx)) flipExponentBit(grad);
          if (ctx?.audit === true) firstDigest = gradientDigest(grad);
        }
        const args = { micro_batch: microBatches, samples: part.length };
        spans.push(
          { name: 'micro-batch', start: t0, end: t2, args },
          { name: 'data', start: t0, end: t1 },
          { name: 'forward+backward', start: t1, end: t2 },
        );
      }
    } catch (e) {
      const reason = e instanceof Error ? e.message.split('\n')[0]!.slice(0, 300) : String(e);
      const fatal = isBackendCorrupted(e);
      if (!fatal && !(e instanceof OutOfMemory) && !isOutOfMemoryError(e)) {
        throw taskStepError(e, this.task.modules, `step ${ctx?.step ?? '?'}'s micro-batch of ${m} samples`);
      }
      // The all-reduce that follows is plain JavaScript and ZeroMQ: a rank whose backend crashed can
      // still take part in it, so every rank learns that the step is aborted.
      if (fatal) this.dead = reason;
      buffer.fill(0);
      buffer[n + 3] = 1;
      return {
        buffer,
        dataMs,
        computeMs,
        microBatches,
        spans,
        oom: { microBatch: m, reason, ...(fatal ? { fatal } : {}) },
      };
    }
    if (this.injected(this.options.injectNan, ctx)) grad[0] = Number.NaN;
    buffer[n] = lossSum;
    buffer[n + 1] = correct;
    buffer[n + 2] = indices.length;
    buffer.set(metricSums, n + METRIC_SLOTS);
    return { buffer, dataMs, computeMs, microBatches, spans, oom: null, ...(firstDigest !== undefined ? { firstDigest } : {}) };
  }

  /**
   * Applies a buffer summed over all ranks: gradient / global count, at the optimizer's own learning
   * rate times `lrFactor` (the schedule's, for this step). Returns the summed metrics. When
   * any rank ran out of memory (aborted), or the summed gradient is not finite (skipped: a NaN or an
   * infinity on any rank), applies nothing and puts the BatchNorm statistics back as they were
   * before the step. Every rank holds the same bytes after the all-reduce, so every rank decides the
   * same.
   */
  applyReduced(buffer: Float32Array, lrFactor = 1): EvalOutcome & { aborted: boolean; skipped: boolean } {
    const n = this.trainer.layout.size;
    const aborted = buffer[n + 3]! > 0;
    if (aborted) {
      if (this.dead === null) this.restoreBatchNorm();
      return { lossSum: 0, correct: 0, count: 0, metrics: this.task.metricNames.map(() => 0), aborted, skipped: false };
    }
    const count = buffer[n + 2]!;
    const metrics = { lossSum: buffer[n]!, correct: buffer[n + 1]!, count, metrics: Array.from(buffer.subarray(n + METRIC_SLOTS)), aborted };
    if (!allFinite(buffer.subarray(0, n + 1))) {
      this.restoreBatchNorm();
      return { ...metrics, skipped: true };
    }
    this.dropSnapshot();
    this.trainer.setLrFactor(lrFactor);
    this.trainer.apply(buffer.subarray(0, n), count);
    return { ...metrics, skipped: false };
  }

  /** Undoes what the step in progress changed (its BatchNorm statistics): it was abandoned before its update. */
  abandonStep(): void {
    if (this.dead === null && this.bnSnapshot !== null) this.restoreBatchNorm();
  }

  // Snapshots are clones (shared storage, no copy): layers assign new tensors to the moving
  // statistics, so the old ones stay valid while the snapshot holds them.
  private snapshotBatchNorm(): void {
    this.dropSnapshot();
    this.bnSnapshot = this.bnVars.map((v) => tf.keep(sharedCopy(v)));
  }

  private restoreBatchNorm(): void {
    this.bnSnapshot?.forEach((t, i) => this.bnVars[i]!.assign(t));
    this.dropSnapshot();
  }

  private dropSnapshot(): void {
    if (this.bnSnapshot !== null) tf.dispose(this.bnSnapshot);
    this.bnSnapshot = null;
  }

  /** Inference-mode loss, accuracy and the task's metrics on test samples [start, end), a micro-batch at a time. */
  evaluate(start: number, end: number, batchSize = this.microBatch): Promise<EvalOutcome> {
    const test = this.task.test;
    if (test === null) return Promise.resolve({ lossSum: 0, correct: 0, count: 0, metrics: this.task.metricNames.map(() => 0) });
    // As a training micro-batch: on webgpu inside error scopes and with a buffer plan of its own,
    // whose buffers are the training plans' (a forward pass's tensors fit in them).
    return evaluateSplit(this.task, test, start, end, batchSize, (f, kind) => withGpuErrorScopes(f, { plan: kind }));
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

  /** This rank's training state, for a replaced rank to continue from. */
  async exportState(): Promise<EngineState> {
    return {
      weights: await this.trainer.layout.readWeights(),
      batchNorm: await this.readBatchNormStats(),
      optimizer: await readOptimizerSlots(this.trainer.optimizer),
    };
  }

  /** Continues from another rank's state (weights, BatchNorm statistics, optimizer slots and step count). */
  async importState(s: EngineState): Promise<void> {
    this.trainer.layout.writeWeights(s.weights);
    this.writeBatchNormStats(s.batchNorm);
    await writeOptimizerSlots(this.trainer.optimizer, s.optimizer);
  }

  /** The saved-model files (model, optimizer state, meta), for the coordinator to write. */
  async exportFiles(meta: Record<string, unknown>): Promise<Record<string, string | Uint8Array>> {
    return modelFiles(this.trainer.model, { optimizer: this.trainer.optimizer, meta });
  }

  async save(dir: string, meta: Record<string, unknown>): Promise<string[]> {
    return saveModelDir(this.trainer.model, dir, { optimizer: this.trainer.optimizer, meta });
  }

  dispose(): void {
    if (this.dead !== null) return; // nothing can run on a crashed backend, not even dispose
    this.dropSnapshot();
    this.trainer.dispose();
    this.trainer.model.dispose();
  }
}
