// The run directory's JSON documents use snake_case keys (metrics.jsonl, summary.json, config.json,
// a checkpoint's loop.json…), while the control-plane messages between processes and the TypeScript
// interfaces they carry (WorkerDescription, MemoryFitReport, RankTimings in @tfjs-ddp/core) stay
// camelCase. These functions map one to the other where a document is written, and back where one
// is read; the readers also take the camelCase keys of files written before documents were
// snake_case, so old run directories still load in `tfjs-ddp report`.
import type { GpuAdapterReport, MemoryFitReport, RankTimings, WorkerDescription } from '@tfjs-ddp/core';

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
}

/** RankTimings as metrics.jsonl's step event holds them (timings[]). */
export interface RankTimingsJson {
  rank: number;
  data_ms: number;
  compute_ms: number;
  allreduce_ms: number;
  apply_ms: number;
  micro_batches: number;
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
  };
}

export function rankTimingsToJson(t: RankTimings): RankTimingsJson {
  return { rank: t.rank, data_ms: t.dataMs, compute_ms: t.computeMs, allreduce_ms: t.allreduceMs, apply_ms: t.applyMs, micro_batches: t.microBatches };
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
