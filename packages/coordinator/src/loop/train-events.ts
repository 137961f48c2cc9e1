// The train loop's events and where they go: the TrainEvent stream (the library's onEvent, the CLI's
// progress line), the timeline's CoordinatorTrace, the logger, and the figures the loop hands its one
// reporter (loop-reporter.ts). Types only; exported by the package.
import type { MembershipChange, RankTimings, WorkerDescription } from '@tfjs-ddp/core';
import type { RankPlan } from './batch-plan';

/** Where the coordinator's own phases go on the run's timeline (observe/timeline.ts). */
export interface CoordinatorTrace {
  /** A phase begins now; phases nest (the last one begun ends first). */
  begin(name: string, args?: Record<string, string | number | boolean>): void;
  /** The last phase begun ends now. */
  end(args?: Record<string, string | number | boolean>): void;
  /** A moment: an out-of-memory, a restart, a skipped step, a membership change, a resume, a stop. */
  mark(name: string, args?: Record<string, unknown>): void;
}

/** The subset of pino's Logger the loop uses. */
export interface LoopLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export type TrainEvent =
  | { type: 'start'; epochs: number; stepsPerEpoch: number; trainCount: number; workers: WorkerDescription[] }
  | {
      type: 'step';
      epoch: number;
      step: number;
      stepInEpoch: number;
      stepsInEpoch: number;
      samples: number;
      loss: number;
      acc: number;
      metrics?: Record<string, number>;
      ms: number;
      samplesPerS: number;
    }
  | {
      type: 'epoch';
      epoch: number;
      trainLoss: number;
      trainAcc: number;
      trainMetrics?: Record<string, number>;
      testLoss: number;
      testAcc: number;
      testMetrics?: Record<string, number>;
      samplesPerS: number;
      wallS: number;
    }
  | {
      type: 'oom';
      step: number;
      rank: number;
      oldMicroBatch: number;
      newMicroBatch: number;
      accumulation: number;
      reason: string;
    }
  | { type: 'restart'; step: number; rank: number; oldPid: number; newPid: number; cause: string }
  | { type: 'skipped'; step: number; inARow: number }
  | { type: 'membership'; step: number; kind: MembershipChange['kind']; worldSize: number }
  | { type: 'stopped'; reason: string; step: number }
  | { type: 'audit-off'; step: number; message: string };

/** A metrics.jsonl row: its `event` first, then its fields in snake_case. */
export type MetricRow = Record<string, unknown> & { event: string };

/** An applied step, as the loop counted it. */
export interface StepReport {
  epoch: number;
  step: number;
  stepInEpoch: number;
  stepsInEpoch: number;
  /** Samples of this step (metrics.jsonl) and of the epoch so far (the TrainEvent). */
  samples: number;
  epochSamples: number;
  loss: number;
  acc: number;
  metrics: Record<string, number> | undefined;
  lrFactor: number | undefined;
  ms: number;
  timings: RankTimings[];
}

/** An evaluated epoch. */
export interface EpochReport {
  epoch: number;
  complete: boolean;
  trainLoss: number;
  trainAcc: number;
  trainMetrics: Record<string, number> | undefined;
  testLoss: number;
  testAcc: number;
  testMetrics: Record<string, number> | undefined;
  testCount: number;
  samplesPerS: number;
  wallS: number;
}

/** The run's start, as the loop planned it. */
export interface StartReport {
  epochs: number;
  stepsPerEpoch: number;
  trainCount: number;
  globalBatch: number;
  plan: RankPlan[];
  workers: WorkerDescription[];
}

/** A run going on from a checkpoint (workers: now; previousWorkers: when it was written). */
export interface ResumeReport {
  from: string;
  step: number;
  epoch: number;
  batchInEpoch: number;
  workers: number;
  previousWorkers: number;
}

/** A checkpoint written, positioned before batch `batchInEpoch` of `epoch`. */
export interface CheckpointReport {
  step: number;
  epoch: number;
  batchInEpoch: number;
  reason: string;
  dir: string;
  ms: number;
}

/** How close an audit cross-check came: `checker`'s recomputation of `owner`'s gradient. */
export interface AuditMargin {
  checker: number;
  owner: number;
  relative: number;
}

/** How close a rank's recomputation of its own micro-batch came. */
export interface SelfCheckMargin {
  rank: number;
  relative: number;
}
