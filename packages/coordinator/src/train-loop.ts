// The step loop of a training run: owns the sample order, splits every global batch over the ranks
// by capacity, drives the WorkerGroup one optimizer step at a time, evaluates after every epoch,
// checkpoints, and writes metrics and the summary. Stops cleanly at a step boundary when asked.
import { DdpError, encodeTrainingState, isConstantRate, lrFactor, type LrSchedule, type MembershipChange, type RestartRecord, type TrainConfig, type TrainingState, type WorkerDescription, type WorkerGroup } from '@tfjs-ddp/core';
import { epochOrder, globalBatches, splitBatch } from '@tfjs-ddp/data';
import type { CheckpointStore } from './checkpoint/checkpoint-store';
import { addSums, meansByName } from './named-metrics';
import { backOff } from './policy/failure-policy';
import { auditChecks, decideAudit, selfChecks, weightsVerdict, type SdcError } from './policy/sdc-audit';
import type { RunDir, RunSummary } from './run-dir';
import { loopCheckpointToJson, memoryFitToJson, rankTimingsToJson, workerToJson } from './run-documents';

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
  | { type: 'step'; epoch: number; step: number; stepInEpoch: number; stepsInEpoch: number; samples: number; loss: number; acc: number; metrics?: Record<string, number>; ms: number; samplesPerS: number }
  | { type: 'epoch'; epoch: number; trainLoss: number; trainAcc: number; trainMetrics?: Record<string, number>; testLoss: number; testAcc: number; testMetrics?: Record<string, number>; samplesPerS: number; wallS: number }
  | { type: 'oom'; step: number; rank: number; oldMicroBatch: number; newMicroBatch: number; accumulation: number; reason: string }
  | { type: 'restart'; step: number; rank: number; oldPid: number; newPid: number; cause: string }
  | { type: 'skipped'; step: number; inARow: number }
  | { type: 'membership'; step: number; kind: MembershipChange['kind']; worldSize: number }
  | { type: 'stopped'; reason: string; step: number }
  | { type: 'audit-off'; step: number; message: string };

export interface TrainLoopArgs {
  config: TrainConfig;
  group: WorkerGroup;
  runDir: RunDir;
  log: LoopLogger;
  onEvent?: (e: TrainEvent) => void;
  /** Polled between steps: a reason to stop (e.g. 'SIGINT'), or null to go on. */
  stopRequested?: () => string | null;
  /** Where and how often to checkpoint; none without it. */
  checkpoints?: Checkpointing;
  /** Continue from this checkpoint instead of from the first step. */
  resume?: Resume;
  /** The run's timeline (--timeline): the coordinator's phases and events. */
  trace?: CoordinatorTrace;
}

/** Checks that every rank built the same model from the same data, before any step. */
export function checkWorkersAgree(workers: WorkerDescription[]): void {
  const first = workers[0];
  if (first === undefined) throw new DdpError('E_INTERNAL', 'no workers');
  for (const w of workers) {
    // The modules first: another file on another host explains any difference that follows.
    for (const kind of ['model', 'data'] as const) {
      const mine = w.task?.[`${kind}Sha256`] ?? null;
      const theirs = first.task?.[`${kind}Sha256`] ?? null;
      if (mine !== theirs || w.task?.[kind] !== first.task?.[kind]) {
        throw new DdpError(
          'E_TASK',
          `rank ${w.rank} (${w.host}, pid ${w.pid}) imported the ${kind} module ${w.task?.[kind] ?? '?'} (SHA-256 ${mine ?? 'none: a built-in'}) but rank 0 (${first.host}) imported ${first.task?.[kind] ?? '?'} (SHA-256 ${theirs ?? 'none: a built-in'})`,
          `every host must have the same ${kind} module at the same path: copy it, or pass --${kind} with a path that exists on every host`,
        );
      }
    }
    // Not the initial weights: the group broadcasts rank 0's (a joiner is synced from a healthy rank).
    for (const key of ['params', 'trainCount', 'testCount'] as const) {
      if (w[key] !== first[key]) {
        throw new DdpError(
          'E_CONFIG',
          `rank ${w.rank} (${w.host}, pid ${w.pid}) has ${key} ${w[key]} but rank 0 has ${first[key]}`,
          key === 'params' ? 'every worker must run the same tfjs-ddp version and config (seed, resize, pool)' : 'every worker must see the same data files',
        );
      }
    }
  }
}

/** One rank's share of a full global batch, and how it computes it. */
export interface RankPlan {
  rank: number;
  /** Largest micro-batch the rank reported (measured by its memory-fit search, or configured). */
  capacity: number;
  /** Samples per full global batch (split in proportion to the capacities). */
  samples: number;
  micro_batch: number;
  /** Micro-batches per step: gradient accumulation steps. */
  accumulation: number;
}

/** Per-rank samples, micro-batch and accumulation for a global batch of `batchSize`. */
export function batchPlan(batchSize: number, capacities: number[], microBatches: number[] = capacities): RankPlan[] {
  const shares = splitBatch(Uint32Array.from({ length: batchSize }, (_, i) => i), capacities).map((s) => s.length);
  return shares.map((samples, rank) => {
    const micro = Math.max(1, Math.min(microBatches[rank]!, samples));
    return { rank, capacity: capacities[rank]!, samples, micro_batch: micro, accumulation: Math.ceil(samples / micro) };
  });
}

/** Most replays of one step before the run gives up (each halves a micro-batch, so this is plenty). */
const MAX_REPLAYS = 12;

/** Where the loop is and what it has counted: with the training state, everything a resume needs (loop.json, written by loopCheckpointToJson). */
export interface LoopCheckpoint {
  /** Optimizer steps done. */
  step: number;
  /** The epoch to continue in (from 1), and how many of its global batches are done. */
  epoch: number;
  batchInEpoch: number;
  /** The current epoch's sums so far (for its train loss and accuracy); skipped: samples of skipped steps. */
  epochSums: { lossSum: number; correct: number; count: number; ms: number; skipped?: number; metrics?: number[] };
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

export interface Checkpointing {
  store: CheckpointStore;
  /** A checkpoint every this many steps (0: only at epoch ends and when stopped). */
  every: number;
  /** Files every checkpoint also carries (the resolved config). */
  extraFiles: Record<string, Uint8Array>;
}

export interface Resume {
  loop: LoopCheckpoint;
  state: TrainingState;
  /** The checkpoint directory it comes from. */
  from: string;
}

export async function runTrainLoop(args: TrainLoopArgs): Promise<RunSummary> {
  const { config, group, runDir, log, resume, trace } = args;
  const emit = (e: TrainEvent) => args.onEvent?.(e);
  /** Runs `f` as a phase on the timeline. */
  const timed = async <T>(name: string, f: () => Promise<T>, spanArgs?: Record<string, string | number | boolean>): Promise<T> => {
    if (trace === undefined) return f();
    trace.begin(name, spanArgs);
    try {
      return await f();
    } finally {
      trace.end();
    }
  };
  /** Writes a metric event, and puts it on the timeline as a moment. */
  const event = (ev: Record<string, unknown> & { event: string }) => {
    runDir.metric(ev);
    trace?.mark(ev.event, ev);
  };
  const workers = group.describe();
  checkWorkersAgree(workers);
  const trainCount = workers[0]!.trainCount;
  const metricNames = workers[0]!.metricNames ?? [];
  const r = resume?.loop;
  // Resumed on as many ranks: the same split, so the same micro-batches and the same arithmetic.
  // On another number of ranks the global batch is kept and split anew by capacity.
  const sameRanks = r !== undefined && r.capacities.length === workers.length;
  const capacities = sameRanks ? [...r.capacities] : workers.map((w) => w.microBatch);
  // --batch-size auto: the largest global batch that needs no accumulation.
  const batchSize = r?.globalBatch ?? (config.batchSize === 'auto' ? Math.min(trainCount, capacities.reduce((a, b) => a + b, 0)) : config.batchSize);
  // Micro-batch per rank: its capacity, until an out-of-memory backs it off.
  const microBatches = sameRanks ? [...r.microBatches] : [...capacities];
  const plan = batchPlan(batchSize, capacities, microBatches);
  const backoffs: Record<string, unknown>[] = r?.backoffs ?? [];
  let restarts = r?.restarts ?? 0;
  const restartEvents: Record<string, unknown>[] = [];
  const membershipEvents: Record<string, unknown>[] = [];
  /** Off for the rest of the run when a self-check finds the training step not repeatable (dropout…). */
  let auditOn = config.auditEvery > 0;
  /**
   * The next audit also has each rank recompute its own micro-batch (is the step repeatable?): this
   * process's first audit (a fresh run, a resume), and the first after ranks were replaced or changed.
   */
  let selfCheckDue = true;
  /**
   * The ranks changed (elastic): capacities from the group's descriptions, each kept rank keeps its
   * micro-batch (after back-offs), a new one starts at its capacity; the global batch stays.
   */
  const recordRestarts = (list: RestartRecord[], attempt: number) => {
    if (list.length > 0) selfCheckDue = true;
    for (const x of list) {
      restarts++;
      const ev = { event: 'restart', step, attempt, rank: x.rank, old_pid: x.pid, new_pid: x.newPid, host: x.host, cause: x.cause, last_lines: x.lastLines };
      restartEvents.push(ev);
      event(ev);
      log.warn(ev, 'a worker was replaced');
      emit({ type: 'restart', step, rank: x.rank, oldPid: x.pid, newPid: x.newPid, cause: x.cause });
    }
  };
  /** What the group changed outside the steps (joins, ranks replaced or lost in evaluation or a save). */
  const takeChanges = async () => {
    const c = await group.between?.();
    if (c === undefined) return;
    recordRestarts(c.restarts, 0);
    if (c.membership !== null) applyMembership(c.membership);
  };
  const applyMembership = (c: MembershipChange) => {
    selfCheckDue = true;
    const ds = group.describe();
    const micro = c.previousRank.map((p, i) => (p === null ? ds[i]!.microBatch : microBatches[p]!));
    capacities.splice(0, capacities.length, ...ds.map((d) => d.microBatch));
    microBatches.splice(0, microBatches.length, ...micro);
    const ev = { event: 'membership', step, kind: c.kind, workers: ds.length, previous_rank: c.previousRank, lost: c.lost, batch_plan: batchPlan(batchSize, capacities, microBatches) };
    membershipEvents.push(ev);
    event(ev);
    log.warn(ev, c.kind === 'shrink' ? 'going on with fewer workers: the global batch is split anew' : 'workers joined: the global batch is split anew');
    emit({ type: 'membership', step, kind: c.kind, worldSize: ds.length });
  };
  let skippedSteps = r?.skippedSteps ?? 0;
  let skippedInARow = r?.skippedInARow ?? 0;
  const stepsPerEpoch = Math.ceil(trainCount / batchSize);
  // The schedule's horizon is fixed when the run starts (loop.json keeps it): a resume that changes
  // --epochs continues the same cosine.
  const schedule: LrSchedule = {
    kind: config.lrSchedule,
    warmupSteps: config.warmupSteps,
    stepEvery: config.lrStepEvery ?? stepsPerEpoch,
    gamma: config.lrGamma,
    totalSteps: r?.lrTotalSteps ?? config.epochs * stepsPerEpoch,
  };
  const scheduled = !isConstantRate(schedule);
  const t0 = performance.now();
  let step = r?.step ?? 0;
  let trainMs = r?.trainMs ?? 0;
  let trainSamples = r?.trainSamples ?? 0;
  let epochsCompleted = r?.epochsCompleted ?? 0;
  let last = r?.last ?? null;
  let testAcc = r?.testAcc ?? null;
  let stopped: string | null = null;
  let checkpointedAt = r?.step ?? -1;
  /** The last step whose silent-data-corruption audit passed (--audit-every). */
  let lastAuditPassed: number | null = null;
  const auditContext = () => ({ step, lastAuditPassed, lastCheckpoint: checkpointedAt >= 0 ? checkpointedAt : null });
  /** Silent data corruption found: the run ends here, nothing more is written but the failure. */
  const sdc = (v: SdcError): never => {
    const ev = { event: 'sdc', step, suspects: v.suspects, message: v.message };
    event(ev);
    log.warn(ev, 'silent data corruption: the run stops');
    throw new DdpError(v.code, v.message, v.hint);
  };
  /** Every rank's weights must be bit-identical before anything of them is written. */
  const verifyWeights = async (what: string): Promise<string[]> => {
    const sums = await timed('compare the weights', () => group.checksums());
    const v = weightsVerdict(sums, group.describe(), auditContext(), what);
    return v === null ? sums : sdc(v);
  };

  if (resume !== undefined) {
    await timed('restore the checkpoint', () => group.restore(resume.state));
    const ev = { event: 'resume', from: resume.from, step, epoch: resume.loop.epoch, batch_in_epoch: resume.loop.batchInEpoch, workers: workers.length, previous_workers: resume.loop.capacities.length };
    event(ev);
    log.info(ev, 'resuming from a checkpoint');
  }
  emit({ type: 'start', epochs: config.epochs, stepsPerEpoch, trainCount, workers });
  runDir.metric({ event: 'start', epochs: config.epochs, steps_per_epoch: stepsPerEpoch, train_count: trainCount, global_batch: batchSize, batch_plan: plan, workers: workers.map(workerToJson) });
  log.info({ epochs: config.epochs, stepsPerEpoch, globalBatch: batchSize, plan }, 'training starts');

  /** Writes a checkpoint positioned before batch `batchInEpoch` of `epoch`. */
  const checkpoint = async (reason: string, epoch: number, batchInEpoch: number, epochSums: LoopCheckpoint['epochSums']) => {
    const c = args.checkpoints;
    if (c === undefined || checkpointedAt === step) return;
    const c0 = performance.now();
    trace?.begin('checkpoint', { step, reason });
    const { files, state, checksums } = await group.snapshot({ step, epoch, batch_in_epoch: batchInEpoch });
    // Nothing of ranks whose weights differ is written (the ranks' checksums come with the snapshot).
    const differ = checksums === undefined ? null : weightsVerdict(checksums, group.describe(), auditContext(), 'the checkpoint');
    if (differ !== null) sdc(differ);
    const loop: LoopCheckpoint = { step, epoch, batchInEpoch, epochSums, trainMs, trainSamples, epochsCompleted, last, testAcc, globalBatch: batchSize, capacities, microBatches, backoffs, restarts, skippedSteps, skippedInARow, ...(scheduled ? { lrTotalSteps: schedule.totalSteps } : {}) };
    const { json, bin } = encodeTrainingState(state);
    const enc = (x: unknown) => new TextEncoder().encode(`${JSON.stringify(x, null, 1)}\n`);
    const dir = c.store.write({ ...files, ...c.extraFiles, 'state.json': new TextEncoder().encode(json), 'state.bin': bin, 'loop.json': enc(loopCheckpointToJson(loop)) }, { step, epoch, batchInEpoch });
    checkpointedAt = step;
    const ev = { event: 'checkpoint', step, epoch, batch_in_epoch: batchInEpoch, reason, dir, ms: Math.round(performance.now() - c0) };
    runDir.metric(ev);
    trace?.end({ dir });
    log.info(ev, 'checkpoint written');
  };

  for (let epoch = r?.epoch ?? 1; epoch <= config.epochs && stopped === null; epoch++) {
    const batches = globalBatches(epochOrder(trainCount, config.seed, epoch - 1), batchSize);
    const resumed = r !== undefined && epoch === r.epoch;
    let lossSum = resumed ? r.epochSums.lossSum : 0;
    let correct = resumed ? r.epochSums.correct : 0;
    let count = resumed ? r.epochSums.count : 0;
    let epochMs = resumed ? r.epochSums.ms : 0;
    let skipped = resumed ? (r.epochSums.skipped ?? 0) : 0;
    const metricSums = metricNames.map((_, j) => (resumed ? (r.epochSums.metrics?.[j] ?? 0) : 0));
    let i = resumed ? r.batchInEpoch : 0;
    for (; i < batches.length; i++) {
      // Give the event loop a turn: backends like wasm resolve every await as a microtask, so without
      // this, signal handlers and socket callbacks would never run during training.
      await new Promise<void>((resolve) => setImmediate(resolve));
      stopped = args.stopRequested?.() ?? (config.maxSteps !== null && step >= config.maxSteps ? 'max-steps' : null);
      if (stopped !== null) break;
      const batch = batches[i]!;
      // Workers waiting to join an elastic run come in here, at a step boundary; ranks replaced or
      // lost during the last evaluation or checkpoint are reported here.
      await takeChanges();
      step++;
      const s0 = performance.now();
      trace?.begin(`step ${step}`, { step, epoch });
      // The sync point: resolves when every rank has all-reduced and applied this step's update, or
      // when every rank aborted it because one ran out of memory: then it is replayed, same samples,
      // with a smaller micro-batch on that rank.
      // Split on each try: a rank lost for good (elastic) changes the capacities between tries.
      let parts: Uint32Array[] = [];
      // An audit step (--audit-every): every rank also recomputes a neighbour's micro-batch.
      const audit = auditOn && step % config.auditEvery === 0;
      const run = (attempt: number) => {
        trace?.begin('plan', { attempt });
        parts = splitBatch(batch, capacities);
        trace?.end();
        return timed(attempt === 0 ? 'wait for the ranks' : `replay ${attempt}`, () => args.group.step({ epoch, step, attempt, globalCount: batch.length, slices: parts.map((indices, rank) => ({ rank, indices, microBatch: microBatches[rank]! })), ...(scheduled ? { lrFactor: lrFactor(schedule, step) } : {}), ...(audit ? { audit, ...(selfCheckDue ? { auditSelf: true } : {}) } : {}) }), { step, attempt });
      };
      let out = await run(0);
      for (let attempt = 1; ; attempt++) {
        recordRestarts(out.restarts, attempt - 1);
        if (out.membership !== undefined) applyMembership(out.membership);
        if (!out.aborted) break;
        // Aborted on every rank: a rank ran out of memory (replay with its micro-batch halved), or a
        // rank was lost before any rank finished the step (replay as it was, on the new process).
        if (out.oom.length === 0 && out.restarts.length === 0 && out.membership === undefined) throw new DdpError('E_INTERNAL', `step ${step} was aborted without an out-of-memory report or a lost rank`);
        if (attempt > MAX_REPLAYS) throw new DdpError('E_MEMORY', `step ${step} was aborted ${MAX_REPLAYS} times in a row`, 'lower --micro-batch or --memory-budget');
        for (const o of out.oom) {
          const action = backOff({ rank: o.rank, step, microBatch: o.microBatch, samples: parts[o.rank]!.length, reason: o.reason });
          if (action.kind === 'abort') throw new DdpError(action.code, action.message, action.hint);
          microBatches[o.rank] = action.microBatch;
          const ev = { event: 'oom', step, attempt, rank: o.rank, old_micro_batch: o.microBatch, new_micro_batch: action.microBatch, accumulation: action.accumulation, reason: o.reason, restarted: o.fatal === true };
          backoffs.push(ev);
          event(ev);
          log.warn(ev, 'out of memory: replaying the step with a smaller micro-batch on that rank');
          emit({ type: 'oom', step, rank: o.rank, oldMicroBatch: o.microBatch, newMicroBatch: action.microBatch, accumulation: action.accumulation, reason: o.reason });
        }
        out = await run(attempt);
      }
      // The audit is judged on an applied step (a skipped one had a non-finite gradient: handled below).
      if (out.audit !== undefined && !out.skipped) {
        const d = decideAudit(out.audit, group.describe(), auditContext());
        if (d.kind === 'stop') sdc(d.error);
        const self = selfChecks(out.audit).map((c) => ({ rank: c.rank, relative: c.comparison.relative }));
        if (self.length > 0) selfCheckDue = false;
        if (d.kind === 'off') {
          // No recomputation can agree with a step that is not repeatable: not E_SDC, no more audits.
          auditOn = false;
          const ev = { event: 'audit', step, disabled: true, reason: 'not repeatable', self_checks: self, message: d.message };
          event(ev);
          log.warn(ev, 'audit off: the training step is not repeatable');
          emit({ type: 'audit-off', step, message: d.message });
        } else {
          lastAuditPassed = step;
          // How close the recomputations came: the margin of the tolerance, for devices that differ.
          runDir.metric({ event: 'audit', step, checks: auditChecks(out.audit).map((c) => ({ checker: c.checker, owner: c.owner, relative: c.comparison.relative })), ...(self.length > 0 ? { self_checks: self } : {}) });
        }
      }
      if (out.skipped) {
        // A NaN or an infinity in the summed gradient: no rank applied it. The samples count as
        // seen (the epoch goes on), their loss does not.
        skippedSteps++;
        skippedInARow++;
        skipped += out.count;
        const ev = { event: 'skipped', step, epoch, in_a_row: skippedInARow, skipped_steps: skippedSteps, reason: 'non-finite gradient' };
        event(ev);
        trace?.end({ skipped: true });
        log.warn(ev, 'non-finite gradient: step skipped on every rank');
        emit({ type: 'skipped', step, inARow: skippedInARow });
        if (skippedInARow > config.maxSkippedSteps) {
          throw new DdpError('E_DIVERGED', `the gradient was not finite (NaN or infinite) in ${skippedInARow} steps in a row, up to step ${step}: training diverged`, `lower the learning rate (--lr ${config.lr} now) and start again, or resume from a checkpoint before the divergence; --max-skipped-steps ${config.maxSkippedSteps} sets how many skipped steps in a row are tolerated`);
        }
        continue;
      }
      skippedInARow = 0;
      const ms = performance.now() - s0;
      trace?.end({ samples: out.count });
      epochMs += ms;
      lossSum += out.lossSum;
      correct += out.correct;
      count += out.count;
      addSums(metricSums, out.metrics);
      last = { loss: out.lossSum / out.count, acc: out.correct / out.count };
      const metrics = meansByName(metricNames, out.metrics, out.count);
      const samplesPerS = (out.count * 1000) / ms;
      emit({ type: 'step', epoch, step, stepInEpoch: i + 1, stepsInEpoch: batches.length, samples: count, loss: last.loss, acc: last.acc, ...(metrics !== undefined ? { metrics } : {}), ms, samplesPerS });
      runDir.metric({ event: 'step', epoch, step, loss: last.loss, acc: last.acc, ...(metrics !== undefined ? { metrics } : {}), ...(scheduled ? { lr_factor: lrFactor(schedule, step) } : {}), samples: out.count, ms: Math.round(ms), samples_per_s: samplesPerS, timings: out.timings.map(rankTimingsToJson) });
      const every = args.checkpoints?.every ?? 0;
      if (every > 0 && step % every === 0 && i + 1 < batches.length) await checkpoint('every', epoch, i + 1, { lossSum, correct, count, ms: epochMs, skipped, metrics: [...metricSums] });
    }
    if (stopped !== null) {
      // Stopped mid-epoch (a signal, or --max-steps): a checkpoint to go on from exactly here.
      if (i < batches.length) await checkpoint(stopped, epoch, i, { lossSum, correct, count, ms: epochMs, skipped, metrics: [...metricSums] });
    }
    trainMs += epochMs;
    trainSamples += count;
    const complete = count + skipped === trainCount;
    if (count === 0) break;
    if (!complete && stopped !== 'max-steps') break; // interrupted: no evaluation, save below
    const ev = await timed('evaluate', () => group.evaluate(config.evalLimit), { epoch });
    testAcc = ev.correct / ev.count;
    if (complete) epochsCompleted = epoch;
    const trainMetrics = meansByName(metricNames, metricSums, count);
    const testMetrics = meansByName(metricNames, ev.metrics, ev.count);
    const e = {
      type: 'epoch' as const,
      epoch,
      trainLoss: lossSum / count,
      trainAcc: correct / count,
      ...(trainMetrics !== undefined ? { trainMetrics } : {}),
      testLoss: ev.lossSum / ev.count,
      testAcc,
      ...(testMetrics !== undefined ? { testMetrics } : {}),
      samplesPerS: (count * 1000) / epochMs,
      wallS: (performance.now() - t0) / 1000,
    };
    last = { loss: e.trainLoss, acc: e.trainAcc };
    emit(e);
    runDir.metric({ event: 'epoch', epoch, complete, train_loss: e.trainLoss, train_acc: e.trainAcc, ...(trainMetrics !== undefined ? { train_metrics: trainMetrics } : {}), test_loss: e.testLoss, test_acc: testAcc, ...(testMetrics !== undefined ? { test_metrics: testMetrics } : {}), test_count: ev.count, samples_per_s: e.samplesPerS, wall_s: e.wallS });
    log.info({ epoch, trainLoss: e.trainLoss, trainAcc: e.trainAcc, testAcc, samplesPerS: e.samplesPerS }, 'epoch done');
    if (complete) await checkpoint('epoch', epoch + 1, 0, { lossSum: 0, correct: 0, count: 0, ms: 0 });
  }

  const interrupted = stopped !== null && stopped !== 'max-steps';
  if (stopped !== null) {
    emit({ type: 'stopped', reason: stopped, step });
    event({ event: 'stopped', reason: stopped, step });
    log.warn({ reason: stopped, step }, 'training stopped');
  }
  // Every rank applied the same updates: their weights must be bit-identical.
  await takeChanges();
  const checksums = await verifyWeights('the final save');
  const files = await timed('save the model', () => group.save({ dir: runDir.file('model'), meta: { step, epochs_completed: epochsCompleted, status: interrupted ? 'interrupted' : 'completed' } }));
  await takeChanges();
  // The ranks at the end (an elastic run may have changed them).
  const final = group.describe();
  const summary: RunSummary = {
    status: interrupted ? 'interrupted' : 'completed',
    backend: final[0]!.backend,
    device: final[0]!.device,
    workers: final.length,
    // webgpu: the adapter each rank ran on (null on the other backends).
    adapter_per_rank: final.map((w) => w.adapter),
    trainable_params: final[0]!.params,
    global_batch: batchSize,
    micro_batch_per_rank: microBatches,
    batch_plan: batchPlan(batchSize, capacities, microBatches),
    memory_fit_per_rank: final.map((w) => (w.memoryFit === null ? null : memoryFitToJson(w.memoryFit))),
    epochs: config.epochs,
    epochs_completed: epochsCompleted,
    steps: step,
    train_loss: last?.loss ?? null,
    train_acc: last?.acc ?? null,
    test_acc: testAcc,
    samples_per_s: trainMs > 0 ? (trainSamples * 1000) / trainMs : null,
    wall_s: (performance.now() - t0) / 1000,
    restarts,
    oom_events: backoffs.length,
    oom_backoffs: backoffs,
    restart_events: restartEvents,
    membership_events: membershipEvents,
    skipped_steps: skippedSteps,
    stop_reason: stopped,
    weights_checksum_per_rank: checksums,
    model_files: files,
    ...group.security?.(),
  };
  runDir.writeSummary(summary);
  return summary;
}
