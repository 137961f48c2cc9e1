// The train loop's one event reporter: every event of a run goes from here to its sinks, metrics.jsonl
// (and, through the run directory's sinks, TensorBoard), the log, the progress line and the library's
// event stream (onEvent: TrainEvent), and the timeline (trace). Called by train-loop.ts and its parts
// under loop/; which event reaches which sink, and in what order, is this file's business only.
import type { LinkCut, MembershipChange, OomReport, RestartRecord } from '@tfjs-ddp/core';
import type { SdcError } from '../policy/sdc-audit';
import type { RunDir } from '../run-dir';
import { rankTimingsToJson, workerToJson } from '../run-documents';
import type { RankPlan } from './batch-plan';
import type {
  AuditMargin,
  CheckpointReport,
  CoordinatorTrace,
  EpochReport,
  LoopLogger,
  MetricRow,
  ResumeReport,
  SelfCheckMargin,
  StartReport,
  StepReport,
  TrainEvent,
} from './train-events';

type SpanArgs = Record<string, string | number | boolean>;

export class LoopReporter {
  constructor(
    /** metrics.jsonl: the run directory, whose sinks (TensorBoard) get every row too. */
    private readonly runDir: Pick<RunDir, 'metric'>,
    private readonly log: LoopLogger,
    private readonly onEvent?: (e: TrainEvent) => void,
    private readonly trace?: CoordinatorTrace,
  ) {}

  /** A phase of the coordinator begins on the timeline (phases nest). */
  begin(name: string, args?: SpanArgs): void {
    this.trace?.begin(name, args);
  }

  /** The last phase begun ends. */
  end(args?: SpanArgs): void {
    this.trace?.end(args);
  }

  /** Runs `f` as a phase on the timeline. */
  async phase<T>(name: string, f: () => Promise<T>, args?: SpanArgs): Promise<T> {
    if (this.trace === undefined) return f();
    this.trace.begin(name, args);
    try {
      return await f();
    } finally {
      this.trace.end();
    }
  }

  start(x: StartReport): void {
    this.emit({
      type: 'start',
      epochs: x.epochs,
      stepsPerEpoch: x.stepsPerEpoch,
      trainCount: x.trainCount,
      workers: x.workers,
    });
    this.runDir.metric({
      event: 'start',
      epochs: x.epochs,
      steps_per_epoch: x.stepsPerEpoch,
      train_count: x.trainCount,
      global_batch: x.globalBatch,
      batch_plan: x.plan,
      workers: x.workers.map(workerToJson),
    });
    this.log.info(
      { epochs: x.epochs, stepsPerEpoch: x.stepsPerEpoch, globalBatch: x.globalBatch, plan: x.plan },
      'training starts',
    );
  }

  resume(x: ResumeReport): void {
    const ev = {
      event: 'resume',
      from: x.from,
      step: x.step,
      epoch: x.epoch,
      batch_in_epoch: x.batchInEpoch,
      workers: x.workers,
      previous_workers: x.previousWorkers,
    };
    this.moment(ev);
    this.log.info(ev, 'resuming from a checkpoint');
  }

  /** A rank replaced; returns the row (summary.json's restart_events). */
  restart(step: number, attempt: number, x: RestartRecord): MetricRow {
    const ev = {
      event: 'restart',
      step,
      attempt,
      rank: x.rank,
      old_pid: x.pid,
      new_pid: x.newPid,
      host: x.host,
      cause: x.cause,
      last_lines: x.lastLines,
    };
    this.moment(ev);
    this.log.warn(ev, 'a worker was replaced');
    this.emit({ type: 'restart', step, rank: x.rank, oldPid: x.pid, newPid: x.newPid, cause: x.cause });
    return ev;
  }

  /** A ring link failed between two live ranks: every rank left the step, the ring was rebuilt. */
  linkCut(step: number, attempt: number, c: LinkCut, replayed: boolean): void {
    const ev = { event: 'link', step, attempt, from: c.from, to: c.to, ends: c.ends, cause: c.cause, reported_by: c.reportedBy, replayed };
    this.moment(ev);
    this.log.warn(ev, replayed ? 'a ring link failed: the ring was rebuilt and the step is replayed' : 'a ring link failed after a rank had finished the step: the ring was rebuilt, the others took its state');
  }

  /** The ranks changed (elastic); returns the row (summary.json's membership_events). */
  membership(step: number, c: MembershipChange, workers: number, plan: RankPlan[]): MetricRow {
    const ev = {
      event: 'membership',
      step,
      kind: c.kind,
      workers,
      previous_rank: c.previousRank,
      lost: c.lost,
      batch_plan: plan,
    };
    this.moment(ev);
    this.log.warn(
      ev,
      c.kind === 'shrink'
        ? 'going on with fewer workers: the global batch is split anew'
        : 'workers joined: the global batch is split anew',
    );
    this.emit({ type: 'membership', step, kind: c.kind, worldSize: workers });
    return ev;
  }

  /** A rank ran out of memory and was backed off; returns the row (summary.json's oom_backoffs). */
  oom(
    step: number,
    attempt: number,
    o: OomReport,
    to: { microBatch: number; accumulation: number },
  ): MetricRow {
    const ev = {
      event: 'oom',
      step,
      attempt,
      rank: o.rank,
      old_micro_batch: o.microBatch,
      new_micro_batch: to.microBatch,
      accumulation: to.accumulation,
      reason: o.reason,
      restarted: o.fatal === true,
    };
    this.moment(ev);
    this.log.warn(ev, 'out of memory: replaying the step with a smaller micro-batch on that rank');
    this.emit({
      type: 'oom',
      step,
      rank: o.rank,
      oldMicroBatch: o.microBatch,
      newMicroBatch: to.microBatch,
      accumulation: to.accumulation,
      reason: o.reason,
    });
    return ev;
  }

  /** The step's phase on the timeline begins. */
  stepBegins(step: number, epoch: number): void {
    this.trace?.begin(`step ${step}`, { step, epoch });
  }

  /** A step skipped for a non-finite gradient; its phase on the timeline ends here. */
  stepSkipped(x: { step: number; epoch: number; inARow: number; skippedSteps: number }): void {
    const ev = {
      event: 'skipped',
      step: x.step,
      epoch: x.epoch,
      in_a_row: x.inARow,
      skipped_steps: x.skippedSteps,
      reason: 'non-finite gradient',
    };
    this.moment(ev);
    this.trace?.end({ skipped: true });
    this.log.warn(ev, 'non-finite gradient: step skipped on every rank');
    this.emit({ type: 'skipped', step: x.step, inARow: x.inARow });
  }

  /** A step applied on every rank; its phase on the timeline ends here. */
  stepDone(s: StepReport): void {
    this.trace?.end({ samples: s.samples });
    const samplesPerS = (s.samples * 1000) / s.ms;
    const metrics = s.metrics !== undefined ? { metrics: s.metrics } : {};
    this.emit({
      type: 'step',
      epoch: s.epoch,
      step: s.step,
      stepInEpoch: s.stepInEpoch,
      stepsInEpoch: s.stepsInEpoch,
      samples: s.epochSamples,
      loss: s.loss,
      acc: s.acc,
      ...metrics,
      ms: s.ms,
      samplesPerS,
    });
    this.runDir.metric({
      event: 'step',
      epoch: s.epoch,
      step: s.step,
      loss: s.loss,
      acc: s.acc,
      ...metrics,
      ...(s.lrFactor !== undefined ? { lr_factor: s.lrFactor } : {}),
      samples: s.samples,
      ms: Math.round(s.ms),
      samples_per_s: samplesPerS,
      timings: s.timings.map(rankTimingsToJson),
    });
  }

  /** An audit step whose recomputations agreed: how close they came (the tolerance's margin). */
  auditPassed(step: number, checks: AuditMargin[], self: SelfCheckMargin[]): void {
    this.runDir.metric({ event: 'audit', step, checks, ...(self.length > 0 ? { self_checks: self } : {}) });
  }

  /** The training step is not repeatable: audits are off for the rest of the run. */
  auditOff(step: number, self: SelfCheckMargin[], message: string): void {
    const ev = { event: 'audit', step, disabled: true, reason: 'not repeatable', self_checks: self, message };
    this.moment(ev);
    this.log.warn(ev, 'audit off: the training step is not repeatable');
    this.emit({ type: 'audit-off', step, message });
  }

  /** Silent data corruption found (the caller then throws). */
  sdc(step: number, v: SdcError): void {
    const ev = { event: 'sdc', step, suspects: v.suspects, message: v.message };
    this.moment(ev);
    this.log.warn(ev, 'silent data corruption: the run stops');
  }

  epoch(e: EpochReport): void {
    const { trainMetrics, testMetrics } = e;
    this.emit({
      type: 'epoch',
      epoch: e.epoch,
      trainLoss: e.trainLoss,
      trainAcc: e.trainAcc,
      ...(trainMetrics !== undefined ? { trainMetrics } : {}),
      testLoss: e.testLoss,
      testAcc: e.testAcc,
      ...(testMetrics !== undefined ? { testMetrics } : {}),
      samplesPerS: e.samplesPerS,
      wallS: e.wallS,
    });
    this.runDir.metric({
      event: 'epoch',
      epoch: e.epoch,
      complete: e.complete,
      train_loss: e.trainLoss,
      train_acc: e.trainAcc,
      ...(trainMetrics !== undefined ? { train_metrics: trainMetrics } : {}),
      test_loss: e.testLoss,
      test_acc: e.testAcc,
      ...(testMetrics !== undefined ? { test_metrics: testMetrics } : {}),
      test_count: e.testCount,
      samples_per_s: e.samplesPerS,
      wall_s: e.wallS,
    });
    this.log.info(
      {
        epoch: e.epoch,
        trainLoss: e.trainLoss,
        trainAcc: e.trainAcc,
        testAcc: e.testAcc,
        samplesPerS: e.samplesPerS,
      },
      'epoch done',
    );
  }

  /** A checkpoint written; the 'checkpoint' phase (begun by its writer) ends here. */
  checkpoint(x: CheckpointReport): void {
    const ev = {
      event: 'checkpoint',
      step: x.step,
      epoch: x.epoch,
      batch_in_epoch: x.batchInEpoch,
      reason: x.reason,
      dir: x.dir,
      ms: x.ms,
    };
    this.runDir.metric(ev);
    this.trace?.end({ dir: x.dir });
    this.log.info(ev, 'checkpoint written');
  }

  stopped(reason: string, step: number): void {
    this.emit({ type: 'stopped', reason, step });
    this.moment({ event: 'stopped', reason, step });
    this.log.warn({ reason, step }, 'training stopped');
  }

  /** metrics.jsonl (and its sinks) and a moment on the timeline. */
  private moment(ev: MetricRow): void {
    this.runDir.metric(ev);
    this.trace?.mark(ev.event, ev);
  }

  private emit(e: TrainEvent): void {
    this.onEvent?.(e);
  }
}
