// What a checkpoint keeps of the train loop (loop.json) and what a resume hands back to it. Types
// only, so that run-documents.ts (which reads and writes loop.json) and the loop parts can both
// import them without importing each other.
import type { TrainingState } from '@tfjs-ddp/core';

/** Where the loop is and what it has counted: with the training state, everything a resume needs (loop.json, written by loopCheckpointToJson). */
export interface LoopCheckpoint {
  /** Optimizer steps done. */
  step: number;
  /** The epoch to continue in (from 1), and how many of its global batches are done. */
  epoch: number;
  batchInEpoch: number;
  /** The current epoch's sums so far (for its train loss and accuracy); skipped: samples of skipped steps. */
  epochSums: {
    lossSum: number;
    correct: number;
    count: number;
    ms: number;
    skipped?: number;
    metrics?: number[];
  };
  trainMs: number;
  trainSamples: number;
  epochsCompleted: number;
  last: { loss: number; acc: number } | null;
  testAcc: number | null;
  globalBatch: number;
  /** Per rank, as they split the global batch and after any out-of-memory back-offs. */
  capacities: number[];
  microBatches: number[];
  backoffs: Record<string, unknown>[];
  restarts: number;
  /** The learning-rate schedule's horizon, fixed at the run's start (absent: no schedule). */
  lrTotalSteps?: number;
  /** Steps skipped for a non-finite gradient, in all and in a row at this point. */
  skippedSteps?: number;
  skippedInARow?: number;
}

export interface Resume {
  loop: LoopCheckpoint;
  state: TrainingState;
  /** The checkpoint directory it comes from. */
  from: string;
}
