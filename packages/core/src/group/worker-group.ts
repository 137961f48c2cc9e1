// WorkerGroup: what the coordinator's step loop needs from the workers, whatever they are (one
// in-process worker, or N processes joined over ZeroMQ). The coordinator plans and decides; the
// group executes. Implemented by @tfjs-ddp/worker (in-process) and the ZeroMQ-backed group.
import type { AuditReport } from '../audit/gradient-digest';
import type { TrainingState } from '../checkpoint/training-state';
import type { TraceSpan } from '../trace/trace-span';

/** What a worker reports about itself when it joins. */
/** The GPU adapter a webgpu rank runs on, as its process saw it. */
export interface GpuAdapterReport {
  vendor: string;
  architecture: string;
  description: string;
  /** A CPU implementation (lavapipe): no GPU memory of its own. */
  software: boolean;
  /** The Vulkan device selection the launcher gave it (DRI_PRIME), null when none or not applied. */
  selection: string | null;
  /**
   * The subgroup-matrix shape of TFJS_DDP_WEBGPU_CONV=mma (or mma-fma's FMA products); null without.
   * Absent from the records of runs before it existed.
   */
  subgroupMatrix?: string | null;
}

export interface WorkerDescription {
  rank: number;
  pid: number;
  host: string;
  backend: string;
  device: 'gpu' | 'cpu';
  /** webgpu: the adapter it runs on; null on the other backends. */
  adapter: GpuAdapterReport | null;
  /** Trainable parameter count of the model it built. */
  params: number;
  /** SHA-256 (hex, first 16 chars) of its initial weights in layout order. */
  weightsHash: string;
  /** Largest micro-batch it computes at once (its capacity). */
  microBatch: number;
  /** How the capacity was found: the memory-fit search's budget, footprint model and trials; null when configured. */
  memoryFit: MemoryFitReport | null;
  /** Samples in its local copy of the training and test sets. */
  trainCount: number;
  testCount: number;
  /**
   * The task's modules as this rank imported them: `builtin:NAME` or the file's path, and the
   * file's SHA-256 (null for a built-in). Absent from workers older than the task seam.
   */
  task?: TaskModulesReport;
  /** The names of the task's own metrics (its model module's `metrics`), besides loss and acc. */
  metricNames?: string[];
  /**
   * The class name of the task's own optimizer (its module's `optimizer(ctx)`, else `compile()`'s),
   * whose learning rate --lr and --momentum do not set; null when the ranks train with SGD from
   * them. Absent from older workers.
   */
  optimizer?: string | null;
}

export interface TaskModulesReport {
  model: string;
  modelSha256: string | null;
  data: string;
  dataSha256: string | null;
}

/** What a worker's memory-fit search found (bytes are of the memory that limits its backend). */
export interface MemoryFitReport {
  budgetBytes: number;
  usableBytes: number;
  baseBytes: number | null;
  bytesPerSample: number | null;
  /** Micro-batch and peak bytes (null: it did not run) of each trial step, in order. */
  trials: { microBatch: number; peakBytes: number | null; ran: boolean }[];
  /** The search stopped at the largest useful micro-batch: the memory could hold more. */
  capped: boolean;
  searchMs: number;
}

/** One rank's share of a global batch. */
export interface RankSlice {
  rank: number;
  /** Indices into the training set. */
  indices: Uint32Array;
  /** Samples it computes at once (more are accumulated). */
  microBatch: number;
}

/** A rank that ran out of memory (really, or by prediction) in a step, which was then aborted on every rank. */
export interface OomReport {
  rank: number;
  microBatch: number;
  reason: string;
  /** The rank's backend crashed (an overflowed wasm heap): the process must be replaced. */
  fatal?: boolean;
}

export interface StepPlan {
  epoch: number;
  /** Global step number, from 1. */
  step: number;
  /** 0 for the first try of a step, then 1, 2, … for its replays after an out-of-memory. */
  attempt: number;
  slices: RankSlice[];
  /** Samples in the whole global batch (the gradient is averaged over these). */
  globalCount: number;
  /** The learning-rate schedule's factor for this step (config/lr-schedule.ts); absent = 1. */
  lrFactor?: number;
  /**
   * An audit step (--audit-every): every rank also recomputes its right neighbour's first
   * micro-batch, and every rank reports the digests (StepOutcome.audit). Changes nothing of the maths.
   */
  audit?: boolean;
  /** On an audit step: every rank also recomputes its own first micro-batch (AuditReport.self). */
  auditSelf?: boolean;
}

export interface RankTimings {
  rank: number;
  /** Reading and preparing images (gather, resize, normalize). */
  dataMs: number;
  /** Forward + backward over all micro-batches. */
  computeMs: number;
  allreduceMs: number;
  applyMs: number;
  microBatches: number;
  /** On an audit step: the recomputation of another rank's micro-batch (--audit-every). */
  auditMs?: number;
}

/**
 * Receives a rank's timeline spans (--timeline), already on the coordinator's trace clock, with the
 * process that measured them and its clock offset (its trace clock minus the coordinator's, in ms).
 */
export type RankTraceSink = (rank: number, spans: TraceSpan[], from: { pid: number; host: string; clockOffsetMs: number }) => void;

/** A worker process that was lost (died, or stalled and was killed) and replaced by a new one. */
export interface RestartRecord {
  rank: number;
  pid: number;
  host: string;
  step: number;
  /** What happened to it, e.g. 'was killed by SIGKILL', 'stalled in allreduce for 30 s', 'its backend crashed (…)'. */
  cause: string;
  /** The last lines of its log (local workers), oldest first. */
  lastLines: string[];
  /** The pid of the process that took its place. */
  newPid: number;
}

/**
 * The ranks changed (an elastic run): workers on other hosts were lost and the run goes on without
 * them, or new workers joined. Ranks are renumbered 0..N−1 in their old order, new ones last.
 */
export interface MembershipChange {
  kind: 'shrink' | 'grow';
  /** For each rank now, the rank it had before (null: a worker that just joined). */
  previousRank: (number | null)[];
  /** Ranks (numbered as before) that left, with why. */
  lost: { rank: number; pid: number; host: string; cause: string }[];
}

/** A ring link that failed during a step: data from rank `from` to rank `to` was lost. */
export interface LinkCut {
  from: number;
  to: number;
  /** Each end's process: host and pid. */
  ends: { rank: number; pid: number; host: string }[];
  /** As the rank that reported it said (worker link-watch.ts). */
  cause: string;
  /** Which rank reported it. */
  reportedBy: number;
}

export interface StepOutcome {
  /**
   * True when nothing was applied on any rank and the step must be replayed: a rank ran out of
   * memory (see oom), a rank was lost before any rank had applied the step (see restarts), or a
   * ring link failed (see linkCuts).
   */
  aborted: boolean;
  /** True when the summed gradient was not finite: no rank applied it, and the step is not replayed. */
  skipped: boolean;
  oom: OomReport[];
  /** Ranks replaced during this attempt (their new processes hold a healthy rank's state). */
  restarts: RestartRecord[];
  /** Set when ranks were lost and the run goes on without them (elastic): split the batch anew. */
  membership?: MembershipChange;
  /** Ring links that failed during this attempt (every rank left it and the ring was rebuilt). */
  linkCuts?: LinkCut[];
  /** Summed over the global batch. */
  lossSum: number;
  correct: number;
  count: number;
  /** The task's own metrics summed over the global batch (WorkerDescription.metricNames order). */
  metrics?: number[];
  timings: RankTimings[];
  /** On an audit step that every rank finished: each rank's report, by rank (absent: not audited). */
  audit?: AuditReport[];
}

export interface EvalOutcome {
  lossSum: number;
  correct: number;
  count: number;
  /** The task's own metrics, summed (WorkerDescription.metricNames order); absent from older workers. */
  metrics?: number[];
}

export interface SaveRequest {
  /** Directory for the tfjs LayersModel (model.json + weights.bin) and optimizer state. */
  dir: string;
  /** Extra fields for the checkpoint's meta.json (epoch, step, ...). */
  meta: Record<string, unknown>;
}

/**
 * What summary.json says about the run's security (docs/multi-node.md, "Security"): CURVE with the
 * run key, --insecure, or loopback only; connections that never passed the handshake (a peer
 * without the key), counted per process while CURVE is on; and messages that reached the
 * coordinator and were dropped (an unknown peer, or frames that do not decode).
 */
export interface SecurityReport {
  security: 'curve' | 'insecure' | 'loopback';
  rejected_connections: number | null;
  rejected_frames: number;
  rejected_connections_per_process: { role: 'coordinator' | 'worker'; rank: number | null; connections: number | null }[];
}

export interface WorkerGroup {
  /** Ranks now (it may change between steps in an elastic run). */
  readonly worldSize: number;
  /**
   * Called between steps: takes in workers that asked to join (an elastic run below its world size)
   * and reports what changed since the last call outside the steps: ranks replaced, or lost for good,
   * during an evaluation or a save.
   */
  between?(): Promise<{ restarts: RestartRecord[]; membership: MembershipChange | null }>;
  /** Every rank's description, by rank. */
  describe(): WorkerDescription[];
  /** One optimizer step on the global batch; resolves when every rank has applied the update. */
  step(plan: StepPlan): Promise<StepOutcome>;
  /** Test-set evaluation; every test image is counted exactly once across ranks. */
  /** Evaluates the test split, sharded over the ranks: all of it, or its first `limit` samples. */
  evaluate(limit?: number | null): Promise<EvalOutcome>;
  /** Every rank's weight checksum, by rank (equal unless the ranks diverged). */
  checksums(): Promise<string[]>;
  /** The run's security figures (groups whose workers talk over sockets); read after checksums(). */
  security?(): SecurityReport;
  /** Writes the model (BatchNorm statistics averaged across ranks first) and optimizer state. */
  save(req: SaveRequest): Promise<string[]>;
  /**
   * What a checkpoint holds of the ranks: the model files (layers format, as `save` writes them) and
   * the training state, both taken after the BatchNorm statistics were averaged over the ranks; and
   * every rank's weight checksum, by rank, from groups of several processes (compared before a write).
   */
  snapshot(meta: Record<string, unknown>): Promise<{ files: Record<string, Uint8Array>; state: TrainingState; checksums?: string[] }>;
  /**
   * Puts `state` into every rank (resume from a checkpoint).
   * @throws DdpError E_DIVERGED when a rank's weights do not have the state's checksum afterwards.
   */
  restore(state: TrainingState): Promise<void>;
  close(): Promise<void>;
}
