// The train loop's state, one object: where it is (step, epoch sums), what it has counted (restarts,
// back-offs, skipped steps) and how the global batch is split (capacities, micro-batches). Built from
// the workers' descriptions or from a resumed checkpoint's loop.json, and turned back into one
// (toCheckpoint); mutated by train-loop.ts and the step (run-step.ts), read by the summary.
import {
  isConstantRate,
  lrFactor,
  type LrSchedule,
  type StepOutcome,
  type TrainConfig,
  type WorkerDescription,
  type WorkerGroup,
} from '@tfjs-ddp/core';
import { addSums } from '../named-metrics';
import type { AuditContext } from '../policy/sdc-audit';
import { batchPlan, type RankPlan } from './batch-plan';
import type { LoopCheckpoint } from '../checkpoint/loop-checkpoint';
import type { LoopReporter } from './loop-reporter';

/** What the parts of the loop share: the run's config, the group, the state and the reporter. */
export interface LoopContext {
  config: TrainConfig;
  group: WorkerGroup;
  state: LoopState;
  report: LoopReporter;
}

/** One epoch's sums so far (its train loss, accuracy and metrics); skipped: samples of skipped steps. */
export interface EpochSums {
  lossSum: number;
  correct: number;
  count: number;
  ms: number;
  skipped: number;
  metrics: number[];
}

export class LoopState {
  readonly trainCount: number;
  readonly metricNames: string[];
  readonly batchSize: number;
  readonly stepsPerEpoch: number;
  readonly schedule: LrSchedule;
  readonly scheduled: boolean;
  /** Per rank: the capacities that split the global batch, and the micro-batches after back-offs. */
  readonly capacities: number[];
  readonly microBatches: number[];
  readonly backoffs: Record<string, unknown>[];
  readonly restartEvents: Record<string, unknown>[] = [];
  readonly membershipEvents: Record<string, unknown>[] = [];
  /** When the run (this process's part of it) started, for wall_s. */
  readonly t0: number;
  restarts: number;
  step: number;
  trainMs: number;
  trainSamples: number;
  epochsCompleted: number;
  last: { loss: number; acc: number } | null;
  testAcc: number | null;
  skippedSteps: number;
  skippedInARow: number;
  /** Why the loop stopped before its end (a signal, 'max-steps'), or null. */
  stopped: string | null = null;
  /** The step of the newest checkpoint (-1: none). */
  checkpointedAt: number;
  /** The last step whose silent-data-corruption audit passed (--audit-every). */
  lastAuditPassed: number | null = null;
  /** Off for the rest of the run when a self-check finds the training step not repeatable (dropout…). */
  auditOn: boolean;
  /**
   * The next audit also has each rank recompute its own micro-batch (is the step repeatable?): this
   * process's first audit (a fresh run, a resume), and the first after ranks were replaced or changed.
   */
  selfCheckDue = true;

  /** A fresh run's state on `workers`, or the resumed checkpoint's `r`. */
  constructor(
    config: TrainConfig,
    workers: WorkerDescription[],
    private readonly r?: LoopCheckpoint,
  ) {
    this.trainCount = workers[0]!.trainCount;
    this.metricNames = workers[0]!.metricNames ?? [];
    // Resumed on as many ranks: the same split, so the same micro-batches and the same arithmetic.
    // On another number of ranks the global batch is kept and split anew by capacity.
    const sameRanks = r !== undefined && r.capacities.length === workers.length;
    this.capacities = sameRanks ? [...r.capacities] : workers.map((w) => w.microBatch);
    // --batch-size auto: the largest global batch that needs no accumulation.
    this.batchSize =
      r?.globalBatch ??
      (config.batchSize === 'auto'
        ? Math.min(
            this.trainCount,
            this.capacities.reduce((a, b) => a + b, 0),
          )
        : config.batchSize);
    // Micro-batch per rank: its capacity, until an out-of-memory backs it off.
    this.microBatches = sameRanks ? [...r.microBatches] : [...this.capacities];
    this.backoffs = r?.backoffs ?? [];
    this.restarts = r?.restarts ?? 0;
    this.auditOn = config.auditEvery > 0;
    this.skippedSteps = r?.skippedSteps ?? 0;
    this.skippedInARow = r?.skippedInARow ?? 0;
    this.stepsPerEpoch = Math.ceil(this.trainCount / this.batchSize);
    // The schedule's horizon is fixed when the run starts (loop.json keeps it): a resume that changes
    // --epochs continues the same cosine.
    this.schedule = {
      kind: config.lrSchedule,
      warmupSteps: config.warmupSteps,
      stepEvery: config.lrStepEvery ?? this.stepsPerEpoch,
      gamma: config.lrGamma,
      totalSteps: r?.lrTotalSteps ?? config.epochs * this.stepsPerEpoch,
    };
    this.scheduled = !isConstantRate(this.schedule);
    this.t0 = performance.now();
    this.step = r?.step ?? 0;
    this.trainMs = r?.trainMs ?? 0;
    this.trainSamples = r?.trainSamples ?? 0;
    this.epochsCompleted = r?.epochsCompleted ?? 0;
    this.last = r?.last ?? null;
    this.testAcc = r?.testAcc ?? null;
    this.checkpointedAt = r?.step ?? -1;
  }

  /** The epoch to begin with (from 1). */
  get firstEpoch(): number {
    return this.r?.epoch ?? 1;
  }

  /** Where `epoch` begins: its first batch and its sums so far (those of the checkpoint resumed in it). */
  epochStart(epoch: number): { batch: number; sums: EpochSums } {
    const r = this.r !== undefined && epoch === this.r.epoch ? this.r : undefined;
    const s = r?.epochSums;
    return {
      batch: r?.batchInEpoch ?? 0,
      sums: {
        lossSum: s?.lossSum ?? 0,
        correct: s?.correct ?? 0,
        count: s?.count ?? 0,
        ms: s?.ms ?? 0,
        skipped: s?.skipped ?? 0,
        metrics: this.metricNames.map((_, j) => s?.metrics?.[j] ?? 0),
      },
    };
  }

  /** The split of a full global batch now. */
  plan(): RankPlan[] {
    return batchPlan(this.batchSize, this.capacities, this.microBatches);
  }

  /** This step's learning-rate factor, or undefined when the rate is constant. */
  lrFactor(): number | undefined {
    return this.scheduled ? lrFactor(this.schedule, this.step) : undefined;
  }

  /** What the audit's messages say about the last audit passed and the newest checkpoint. */
  auditContext(): AuditContext {
    return {
      step: this.step,
      lastAuditPassed: this.lastAuditPassed,
      lastCheckpoint: this.checkpointedAt >= 0 ? this.checkpointedAt : null,
    };
  }

  /**
   * The ranks changed (elastic): capacities from the group's descriptions `now`, each kept rank keeps
   * its micro-batch (after back-offs), a new one starts at its capacity; the global batch stays.
   */
  resplit(previousRank: (number | null)[], now: WorkerDescription[]): void {
    const micro = previousRank.map((p, i) => (p === null ? now[i]!.microBatch : this.microBatches[p]!));
    this.capacities.splice(0, this.capacities.length, ...now.map((d) => d.microBatch));
    this.microBatches.splice(0, this.microBatches.length, ...micro);
  }

  /** Counts a step that every rank applied into the epoch's sums. */
  addApplied(sums: EpochSums, out: StepOutcome, ms: number): void {
    this.skippedInARow = 0;
    sums.ms += ms;
    sums.lossSum += out.lossSum;
    sums.correct += out.correct;
    sums.count += out.count;
    addSums(sums.metrics, out.metrics);
    this.last = { loss: out.lossSum / out.count, acc: out.correct / out.count };
  }

  /** Counts a skipped step (non-finite gradient): its samples count as seen, their loss does not. */
  addSkipped(sums: EpochSums, out: StepOutcome): void {
    this.skippedSteps++;
    this.skippedInARow++;
    sums.skipped += out.count;
  }

  /** loop.json of a checkpoint positioned before batch `batchInEpoch` of `epoch`. */
  toCheckpoint(epoch: number, batchInEpoch: number, epochSums: LoopCheckpoint['epochSums']): LoopCheckpoint {
    return {
      step: this.step,
      epoch,
      batchInEpoch,
      epochSums,
      trainMs: this.trainMs,
      trainSamples: this.trainSamples,
      epochsCompleted: this.epochsCompleted,
      last: this.last,
      testAcc: this.testAcc,
      globalBatch: this.batchSize,
      capacities: this.capacities,
      microBatches: this.microBatches,
      backoffs: this.backoffs,
      restarts: this.restarts,
      skippedSteps: this.skippedSteps,
      skippedInARow: this.skippedInARow,
      ...(this.scheduled ? { lrTotalSteps: this.schedule.totalSteps } : {}),
    };
  }
}

/** The sums as a mid-epoch checkpoint keeps them (a copy). */
export function sumsToCheckpoint(s: EpochSums): LoopCheckpoint['epochSums'] {
  return {
    lossSum: s.lossSum,
    correct: s.correct,
    count: s.count,
    ms: s.ms,
    skipped: s.skipped,
    metrics: [...s.metrics],
  };
}
