// The control-plane conversation between the coordinator and a worker, as typed messages. Each is
// a JSON object {v, type, ...} in frame 0 (see protocol/frame-codec.ts), with binary frames after it
// where noted. Order: join → welcome → hello → ring → ready; then step/eval/save/stop requests, each
// answered by one reply (or an error) from every rank.
import type { AuditRequest, WireAuditReport } from '../audit/gradient-digest';
import type { TraceSpan } from '../trace/trace-span';
import type { EvalOutcome, OomReport, RankTimings, WorkerDescription } from './worker-group';

/** What a worker needs from the coordinator to build the same model as every other rank. */
export interface WorkerSettings {
  lr: number;
  momentum: number;
  resize: number;
  pool: 'max' | 'avg';
  seed: number;
  /** Global batch, or auto (each worker then searches up to AUTO_BATCH_LIMIT samples, config/train-config.ts). */
  batchSize: number | 'auto';
  microBatch: number | 'auto';
  /**
   * The largest micro-batch the memory-fit search looks for: this rank's share of the global batch
   * with the run's workers (or its --min-workers) all up. Absent: the global batch (or
   * AUTO_BATCH_LIMIT), what one rank alone would need.
   */
  searchLimit?: number;
  memoryBudget: number | null;
  memoryMargin: number;
  /** Tests only: the DenseNet without BatchNorm (its gradient does not depend on the micro-batch). */
  batchNorm?: boolean;
  backend: string;
  dataDir: string | null;
  verifyData: boolean;
  /** Ring inbox address to bind, or null to bind tcp on the interface that reaches the coordinator. */
  dataAddress: string | null;
  /** Timeout of every data-plane receive (a neighbour missing for this long fails the step). */
  allreduceTimeoutMs: number;
  logLevel: string;
  /** The run writes a timeline (--timeline): send the spans of every step and evaluation. */
  timeline?: boolean;
  /**
   * The task's modules, `builtin:NAME` or an absolute path that every worker imports (default the
   * seed's: builtin:densenet, builtin:fashion-mnist).
   */
  task?: { model: string; data: string };
  /** The user's task settings (`--set key=value`), given to the task's modules over the seed's. */
  taskSettings?: Record<string, string | number | boolean | null>;
}

export type WorkerToCoordinator =
  | { type: 'join'; version: string; pid: number; host: string; requestedRank: number | null; localRank: number | null }
  | { type: 'hello'; description: Omit<WorkerDescription, 'rank'>; dataAddress: string }
  | { type: 'ready' }
  /**
   * skipped: the summed gradient was not finite, so no rank applied it (the step is not replayed).
   * audit: on an audit step, the digests of its contribution and of its recomputation (read with readAuditReport).
   */
  | { type: 'step-done'; step: number; lossSum: number; correct: number; count: number; metrics?: number[]; timings: RankTimings; checksum: string | null; aborted: boolean; skipped: boolean; oom: OomReport | null; trace?: TraceSpan[]; audit?: WireAuditReport }
  /** Where the rank is: sent as a step enters each phase, and in answer to 'probe'. */
  | { type: 'progress'; step: number | null; phase: StepPhase }
  /**
   * A ring link of this rank failed during the all-reduce of `step` (minus the collective's number
   * for an evaluation or a save): it dropped, or stayed down (worker link-watch.ts). Sent at once;
   * the step's reply (or the answer to the 'abort' that follows) comes after it.
   */
  | { type: 'link-lost'; step: number; side: 'left' | 'right'; peer: number; cause: string }
  /**
   * The answer to 'abort': whether the rank had applied that step's update before the abort came,
   * and the address of the new ring inbox it bound (its old ring sockets are closed).
   */
  | { type: 'left'; step: number; applied: boolean; dataAddress: string }
  | ({ type: 'eval-done'; trace?: TraceSpan[] } & EvalOutcome)
  /** The answer to 'clock': this process's trace clock (traceClock()) when it answered. */
  | { type: 'clock'; now: number }
  /** rejectedConnections: connections to this worker's ring inbox that never passed the CURVE handshake (absent without CURVE). */
  | { type: 'checksum-done'; checksum: string; rejectedConnections?: number }
  /**
   * Followed by one binary frame per file, in the order of `names` (rank 0 only; others send
   * names: []). checksum: the rank's weight checksum, compared before a checkpoint is written.
   */
  | { type: 'saved'; names: string[]; checksum?: string }
  | { type: 'error'; code: string; message: string; step: number | null }
  /** Followed by binary frames: weights, BatchNorm statistics, then one per optimizer slot (Float32Array each). */
  | { type: 'state'; optimizer: { name: string; shape: number[] }[]; checksum: string }
  /** stateDigest: stateDigest() of the state the rank holds now, slots included (checkpoint/training-state.ts). */
  | { type: 'state-loaded'; checksum: string; stateDigest: string };

export type CoordinatorToWorker =
  | { type: 'welcome'; rank: number; worldSize: number; settings: WorkerSettings }
  /**
   * Where to send ring traffic; also sent mid-run when the right neighbour was replaced or the ring
   * was rebuilt (answered by 'ready'). rank and worldSize: the rank's new place when the ring grew or
   * shrank (elastic runs).
   */
  | { type: 'ring'; rightAddress: string; rank?: number; worldSize?: number }
  /**
   * Followed by one binary frame: the rank's sample indices (Uint32Array). An audit step (audit set,
   * read with readAuditRequest) has a second: the indices of the other rank's micro-batch to recompute.
   */
  | { type: 'step'; step: number; epoch: number; globalCount: number; checksum: boolean; microBatch: number; attempt: number; lrFactor?: number; audit?: AuditRequest }
  /** collective: the coordinator's count of BatchNorm averagings (each one all-reduce, tagged with it). */
  | { type: 'eval'; start: number; end: number; collective: number }
  | { type: 'save'; meta: Record<string, unknown>; collective: number }
  | { type: 'checksum' }
  /** Send this rank's training state (to re-sync a replaced rank). */
  | { type: 'export-state' }
  /** Followed by the binary frames of a 'state' reply: continue from them. */
  | { type: 'load-state'; optimizer: { name: string; shape: number[] }[] }
  | { type: 'stop'; reason: string }
  /**
   * Leave step `step` (a rank was lost; minus the collective's number for an evaluation or a save):
   * stop waiting in its all-reduce, undo what the step changed
   * unless it was applied, close the ring sockets and bind a new inbox; answered by 'left'. A 'ring'
   * message follows once the ring is whole again.
   */
  | { type: 'abort'; step: number; reason: string }
  /** The coordinator is alive (every PING_INTERVAL_MS); answered by 'progress' (the worker is too). */
  | { type: 'ping' }
  /** Say where you are: answered by 'progress' at once, even during an all-reduce. */
  | { type: 'probe' }
  /** Read your trace clock: answered by 'clock' at once (the coordinator measures clock offsets). */
  | { type: 'clock' };

/** What a worker is doing: idle between requests, a step's computation, all-reduce or update, an evaluation or a save. */
export type StepPhase = 'idle' | 'compute' | 'allreduce' | 'apply' | 'eval' | 'save';

/** How often the coordinator pings every worker. */
export const PING_INTERVAL_MS = 2_000;

/**
 * How long a worker waits without hearing from the coordinator (while its event loop runs) before it
 * decides the coordinator is gone and exits: 15 missed pings, so that a coordinator paused for a few
 * seconds (a suspended terminal, a slow host) does not end the run. Local workers see the
 * coordinator's death at once, by their IPC channel; this bounds it for workers on other hosts.
 */
export const COORDINATOR_SILENCE_MS = 30_000;
