// The run directory's JSON documents use snake_case keys (metrics.jsonl, summary.json, config.json,
// a checkpoint's loop.json…), while the control-plane messages between processes and the TypeScript
// interfaces they carry (WorkerDescription, MemoryFitReport, RankTimings in @tfjs-ddp/core) stay
// camelCase. These functions map one to the other where a document is written, and back where one
// is read; the readers also take the camelCase keys of files written before documents were
// snake_case, so old run directories still load in `tfjs-ddp report`.
import { DdpError, type GpuAdapterReport, type MemoryFitReport, type RankTimings, type WorkerDescription } from '@tfjs-ddp/core';
import type { LoopCheckpoint } from './checkpoint/loop-checkpoint';

/** MemoryFitReport as documents hold it (summary.json's memory_fit_per_rank, metrics.jsonl's start.workers[].memory_fit). */
export interface MemoryFitJson {
  budget_bytes: number;
  usable_bytes: number;
  base_bytes: number | null;
  bytes_per_sample: number | null;
  trials: { micro_batch: number; peak_bytes: number | null; ran: boolean }[];
  capped: boolean;
  search_ms: number;
}

/** WorkerDescription as metrics.jsonl's start event holds it (workers[]). */
export interface WorkerJson {
  rank: number;
  pid: number;
  host: string;
  backend: string;
  device: 'gpu' | 'cpu';
  adapter: GpuAdapterReport | null;
  params: number;
  weights_hash: string;
  micro_batch: number;
  memory_fit: MemoryFitJson | null;
  train_count: number;
  test_count: number;
  task?: { model: string; model_sha256: string | null; data: string; data_sha256: string | null };
}

/** RankTimings as metrics.jsonl's step event holds them (timings[]). */
export interface RankTimingsJson {
  rank: number;
  data_ms: number;
  compute_ms: number;
  allreduce_ms: number;
  apply_ms: number;
  micro_batches: number;
  /** On an audit step: the recomputation of another rank's micro-batch. */
  audit_ms?: number;
}

export function memoryFitToJson(m: MemoryFitReport): MemoryFitJson {
  return {
    budget_bytes: m.budgetBytes,
    usable_bytes: m.usableBytes,
    base_bytes: m.baseBytes,
    bytes_per_sample: m.bytesPerSample,
    trials: m.trials.map((t) => ({ micro_batch: t.microBatch, peak_bytes: t.peakBytes, ran: t.ran })),
    capped: m.capped,
    search_ms: m.searchMs,
  };
}

export function workerToJson(w: WorkerDescription): WorkerJson {
  return {
    rank: w.rank,
    pid: w.pid,
    host: w.host,
    backend: w.backend,
    device: w.device,
    adapter: w.adapter,
    params: w.params,
    weights_hash: w.weightsHash,
    micro_batch: w.microBatch,
    memory_fit: w.memoryFit === null ? null : memoryFitToJson(w.memoryFit),
    train_count: w.trainCount,
    test_count: w.testCount,
    ...(w.task !== undefined ? { task: { model: w.task.model, model_sha256: w.task.modelSha256, data: w.task.data, data_sha256: w.task.dataSha256 } } : {}),
  };
}

export function rankTimingsToJson(t: RankTimings): RankTimingsJson {
  return { rank: t.rank, data_ms: t.dataMs, compute_ms: t.computeMs, allreduce_ms: t.allreduceMs, apply_ms: t.applyMs, micro_batches: t.microBatches, ...(t.auditMs !== undefined ? { audit_ms: t.auditMs } : {}) };
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | null => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : null);
/** The value under the snake_case key, else under the camelCase one (documents written before). */
const either = (o: Json, snake: string, camel: string): unknown => (o[snake] !== undefined ? o[snake] : o[camel]);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** A memory-fit report read from a document (snake_case, or the camelCase of older files); null when it is none. */
export function memoryFitFromJson(v: unknown): MemoryFitReport | null {
  const o = obj(v);
  if (o === null) return null;
  const budgetBytes = num(either(o, 'budget_bytes', 'budgetBytes'));
  const usableBytes = num(either(o, 'usable_bytes', 'usableBytes'));
  if (budgetBytes === null || usableBytes === null) return null;
  const trials = (Array.isArray(o['trials']) ? o['trials'] : []).map(obj).filter((t): t is Json => t !== null);
  return {
    budgetBytes,
    usableBytes,
    baseBytes: num(either(o, 'base_bytes', 'baseBytes')),
    bytesPerSample: num(either(o, 'bytes_per_sample', 'bytesPerSample')),
    trials: trials.map((t) => ({ microBatch: num(either(t, 'micro_batch', 'microBatch')) ?? 0, peakBytes: num(either(t, 'peak_bytes', 'peakBytes')), ran: t['ran'] === true })),
    capped: o['capped'] === true,
    searchMs: num(either(o, 'search_ms', 'searchMs')) ?? 0,
  };
}

/** One rank's step timings read from a document (snake_case, or the camelCase of older files); missing figures are 0. */
export function rankTimingsFromJson(v: unknown): RankTimings | null {
  const o = obj(v);
  const rank = o === null ? null : num(o['rank']);
  if (o === null || rank === null) return null;
  const ms = (snake: string, camel: string) => num(either(o, snake, camel)) ?? 0;
  return {
    rank,
    dataMs: ms('data_ms', 'dataMs'),
    computeMs: ms('compute_ms', 'computeMs'),
    allreduceMs: ms('allreduce_ms', 'allreduceMs'),
    applyMs: ms('apply_ms', 'applyMs'),
    microBatches: ms('micro_batches', 'microBatches'),
  };
}

/** A start event's worker: its capacity (micro-batch) and memory-fit report, from either spelling. */
export function workerFitFromJson(v: unknown): { microBatch: number | null; memoryFit: MemoryFitReport | null } {
  const o = obj(v) ?? {};
  return { microBatch: num(either(o, 'micro_batch', 'microBatch')), memoryFit: memoryFitFromJson(either(o, 'memory_fit', 'memoryFit')) };
}

/** A checkpoint's loop.json: LoopCheckpoint with snake_case keys. */
export interface LoopCheckpointJson {
  step: number;
  epoch: number;
  batch_in_epoch: number;
  epoch_sums: { loss_sum: number; correct: number; count: number; ms: number; skipped?: number; metrics?: number[] };
  train_ms: number;
  train_samples: number;
  epochs_completed: number;
  last: { loss: number; acc: number } | null;
  test_acc: number | null;
  global_batch: number;
  capacities: number[];
  micro_batches: number[];
  backoffs: Record<string, unknown>[];
  restarts: number;
  skipped_steps?: number;
  skipped_in_a_row?: number;
  lr_total_steps?: number;
}

export function loopCheckpointToJson(l: LoopCheckpoint): LoopCheckpointJson {
  const { lossSum, correct, count, ms, skipped, metrics } = l.epochSums;
  return {
    step: l.step,
    epoch: l.epoch,
    batch_in_epoch: l.batchInEpoch,
    epoch_sums: { loss_sum: lossSum, correct, count, ms, ...(skipped !== undefined ? { skipped } : {}), ...(metrics !== undefined && metrics.length > 0 ? { metrics } : {}) },
    train_ms: l.trainMs,
    train_samples: l.trainSamples,
    epochs_completed: l.epochsCompleted,
    last: l.last,
    test_acc: l.testAcc,
    global_batch: l.globalBatch,
    capacities: l.capacities,
    micro_batches: l.microBatches,
    backoffs: l.backoffs,
    restarts: l.restarts,
    ...(l.skippedSteps !== undefined ? { skipped_steps: l.skippedSteps } : {}),
    ...(l.skippedInARow !== undefined ? { skipped_in_a_row: l.skippedInARow } : {}),
    ...(l.lrTotalSteps !== undefined ? { lr_total_steps: l.lrTotalSteps } : {}),
  };
}

/**
 * A checkpoint's loop.json, parsed: snake_case, or the camelCase of a checkpoint written before
 * documents were snake_case (such a run must still resume).
 * @throws DdpError E_CHECKPOINT naming `where` when it is not JSON, or lacks the position or the split.
 */
export function loopCheckpointFromJson(text: string, where: string): LoopCheckpoint {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new DdpError('E_CHECKPOINT', `${where} is not JSON (${(e as Error).message})`);
  }
  const o = obj(v);
  const sums = o === null ? null : obj(either(o, 'epoch_sums', 'epochSums'));
  const nums = (x: unknown): number[] | null => (Array.isArray(x) && x.every((n) => num(n) !== null) ? (x as number[]) : null);
  const step = o === null ? null : num(o['step']);
  const epoch = o === null ? null : num(o['epoch']);
  const batchInEpoch = o === null ? null : num(either(o, 'batch_in_epoch', 'batchInEpoch'));
  const globalBatch = o === null ? null : num(either(o, 'global_batch', 'globalBatch'));
  const capacities = o === null ? null : nums(o['capacities']);
  const microBatches = o === null ? null : nums(either(o, 'micro_batches', 'microBatches'));
  if (o === null || sums === null || step === null || epoch === null || batchInEpoch === null || globalBatch === null || capacities === null || microBatches === null) {
    throw new DdpError('E_CHECKPOINT', `${where} is not a training loop checkpoint`);
  }
  const last = obj(o['last']);
  const skipped = num(sums['skipped']);
  const metricSums = Array.isArray(sums['metrics']) ? (sums['metrics'] as unknown[]).map((v) => num(v) ?? 0) : null;
  const skippedSteps = num(either(o, 'skipped_steps', 'skippedSteps'));
  const skippedInARow = num(either(o, 'skipped_in_a_row', 'skippedInARow'));
  const lrTotalSteps = num(o['lr_total_steps']);
  return {
    step,
    epoch,
    batchInEpoch,
    epochSums: { lossSum: num(either(sums, 'loss_sum', 'lossSum')) ?? 0, correct: num(sums['correct']) ?? 0, count: num(sums['count']) ?? 0, ms: num(sums['ms']) ?? 0, ...(skipped !== null ? { skipped } : {}), ...(metricSums !== null ? { metrics: metricSums } : {}) },
    trainMs: num(either(o, 'train_ms', 'trainMs')) ?? 0,
    trainSamples: num(either(o, 'train_samples', 'trainSamples')) ?? 0,
    epochsCompleted: num(either(o, 'epochs_completed', 'epochsCompleted')) ?? 0,
    last: last === null ? null : { loss: num(last['loss']) ?? NaN, acc: num(last['acc']) ?? NaN },
    testAcc: num(either(o, 'test_acc', 'testAcc')),
    globalBatch,
    capacities,
    microBatches,
    backoffs: Array.isArray(o['backoffs']) ? (o['backoffs'] as unknown[]).map(obj).filter((b): b is Json => b !== null) : [],
    restarts: num(o['restarts']) ?? 0,
    ...(skippedSteps !== null ? { skippedSteps } : {}),
    ...(skippedInARow !== null ? { skippedInARow } : {}),
    ...(lrTotalSteps !== null ? { lrTotalSteps } : {}),
  };
}
