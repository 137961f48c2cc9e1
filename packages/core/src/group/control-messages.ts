// The control-plane conversation between the coordinator and a worker, as typed messages. Each is
// a JSON object {v, type, ...} in frame 0 (see protocol/frame-codec.ts), with binary frames after it
// where noted. Order: join → welcome → hello → ring → ready; then step/eval/save/stop requests, each
// answered by one reply (or an error) from every rank.
import type { EvalOutcome, RankTimings, WorkerDescription } from './worker-group';

/** What a worker needs from the coordinator to build the same model as every other rank. */
export interface WorkerSettings {
  lr: number;
  momentum: number;
  resize: number;
  pool: 'max' | 'avg';
  seed: number;
  microBatch: number | null;
  backend: string;
  dataDir: string | null;
  verifyData: boolean;
  /** Ring inbox address to bind, or null to bind tcp on the interface that reaches the coordinator. */
  dataAddress: string | null;
  /** Timeout of every data-plane receive (a neighbour missing for this long fails the step). */
  allreduceTimeoutMs: number;
  logLevel: string;
}

export type WorkerToCoordinator =
  | { type: 'join'; version: string; pid: number; host: string; requestedRank: number | null; localRank: number | null }
  | { type: 'hello'; description: Omit<WorkerDescription, 'rank'>; dataAddress: string }
  | { type: 'ready' }
  | { type: 'step-done'; step: number; lossSum: number; correct: number; count: number; timings: RankTimings; checksum: string | null }
  | ({ type: 'eval-done' } & EvalOutcome)
  | { type: 'checksum-done'; checksum: string }
  /** Followed by one binary frame per file, in the order of `names` (rank 0 only; others send names: []). */
  | { type: 'saved'; names: string[] }
  | { type: 'error'; code: string; message: string; step: number | null };

export type CoordinatorToWorker =
  | { type: 'welcome'; rank: number; worldSize: number; settings: WorkerSettings }
  | { type: 'ring'; rightAddress: string }
  /** Followed by one binary frame: the rank's sample indices (Uint32Array). */
  | { type: 'step'; step: number; epoch: number; globalCount: number; checksum: boolean }
  | { type: 'eval'; start: number; end: number }
  | { type: 'save'; meta: Record<string, unknown> }
  | { type: 'checksum' }
  | { type: 'stop'; reason: string };
