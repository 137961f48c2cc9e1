// The step loop of a training run: owns the sample order, drives the WorkerGroup one optimizer step at
// a time, evaluates after every epoch, checkpoints, and writes the summary. Stops cleanly at a step
// boundary when asked. Its parts are under loop/: the state (loop-state.ts), the step with its
// replays (run-step.ts), the events' one reporter (loop-reporter.ts), the checkpoint writer, the
// audit guard and the summary. Called by the CLI's run-training.ts and by tests.
import { DdpError, type TrainConfig, type WorkerGroup } from '@tfjs-ddp/core';
import { epochOrder, globalBatches } from '@tfjs-ddp/data';
import { meansByName } from './named-metrics';
import { checkWorkersAgree } from './policy/workers-agree';
import type { RunDir, RunSummary } from './run-dir';
import { checkAuditStep, verifiedChecksums } from './loop/audit-guard';
import type { LoopCheckpoint, Resume } from './checkpoint/loop-checkpoint';
import { LoopReporter } from './loop/loop-reporter';
import type { CoordinatorTrace, LoopLogger, TrainEvent } from './loop/train-events';
import { LoopState, sumsToCheckpoint, type LoopContext } from './loop/loop-state';
import { runStep, takeChanges } from './loop/run-step';
import { runSummary } from './loop/run-summary';
import { writeCheckpoint, type Checkpointing } from './loop/write-checkpoint';

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

/**
 * Trains for config.epochs (or up to --max-steps, or until stopRequested says why not), then saves the
 * model and writes summary.json.
 * @throws DdpError E_TASK / E_CONFIG when the ranks differ; E_MEMORY when a step cannot be made to
 *   fit; E_DIVERGED after too many non-finite gradients in a row; E_SDC when the ranks' results
 *   differ; and whatever the group throws.
 */
export async function runTrainLoop(args: TrainLoopArgs): Promise<RunSummary> {
  const { config, group, runDir, resume } = args;
  const report = new LoopReporter(runDir, args.log, args.onEvent, args.trace);
  const workers = group.describe();
  checkWorkersAgree(workers);
  const s = new LoopState(config, workers, resume?.loop);
  const ctx: LoopContext = { config, group, state: s, report };
  const every = args.checkpoints?.every ?? 0;
  const checkpoint = (
    reason: string,
    epoch: number,
    batchInEpoch: number,
    sums: LoopCheckpoint['epochSums'],
  ) => writeCheckpoint(ctx, args.checkpoints, reason, epoch, batchInEpoch, sums);

  if (resume !== undefined) {
    await report.phase('restore the checkpoint', () => group.restore(resume.state));
    const r = resume.loop;
    report.resume({
      from: resume.from,
      step: s.step,
      epoch: r.epoch,
      batchInEpoch: r.batchInEpoch,
      workers: workers.length,
      previousWorkers: r.capacities.length,
    });
  }
  report.start({
    epochs: config.epochs,
    stepsPerEpoch: s.stepsPerEpoch,
    trainCount: s.trainCount,
    globalBatch: s.batchSize,
    plan: s.plan(),
    workers,
  });

  for (let epoch = s.firstEpoch; epoch <= config.epochs && s.stopped === null; epoch++) {
    const batches = globalBatches(epochOrder(s.trainCount, config.seed, epoch - 1), s.batchSize);
    const start = s.epochStart(epoch);
    const sums = start.sums;
    let i = start.batch;
    for (; i < batches.length; i++) {
      // Give the event loop a turn: backends like wasm resolve every await as a microtask, so without
      // this, signal handlers and socket callbacks would never run during training.
      await new Promise<void>((resolve) => setImmediate(resolve));
      s.stopped =
        args.stopRequested?.() ??
        (config.maxSteps !== null && s.step >= config.maxSteps ? 'max-steps' : null);
      if (s.stopped !== null) break;
      // Workers waiting to join an elastic run come in here, at a step boundary; ranks replaced or
      // lost during the last evaluation or checkpoint are reported here.
      await takeChanges(ctx);
      s.step++;
      const s0 = performance.now();
      report.stepBegins(s.step, epoch);
      // The sync point: resolves when every rank has all-reduced and applied this step's update (or
      // skipped it, on a non-finite gradient). Steps aborted on every rank (a rank out of memory or
      // lost) are replayed inside, same samples, until one is not.
      const out = await runStep(ctx, batches[i]!, epoch);
      // The audit is judged on an applied step (a skipped one had a non-finite gradient: handled below).
      if (out.audit !== undefined && !out.skipped) checkAuditStep(ctx, out.audit);
      if (out.skipped) {
        // A NaN or an infinity in the summed gradient: no rank applied it. The samples count as
        // seen (the epoch goes on), their loss does not.
        s.addSkipped(sums, out);
        report.stepSkipped({ step: s.step, epoch, inARow: s.skippedInARow, skippedSteps: s.skippedSteps });
        if (s.skippedInARow > config.maxSkippedSteps) {
          throw new DdpError(
            'E_DIVERGED',
            `the gradient was not finite (NaN or infinite) in ${s.skippedInARow} steps in a row, up to step ${s.step}: training diverged`,
            `lower the learning rate (--lr ${config.lr} now; a task whose model brings its own compiled optimizer sets the rate there) and start again, or resume from a checkpoint before the divergence; --max-skipped-steps ${config.maxSkippedSteps} sets how many skipped steps in a row are tolerated`,
          );
        }
        continue;
      }
      const ms = performance.now() - s0;
      s.addApplied(sums, out, ms);
      report.stepDone({
        epoch,
        step: s.step,
        stepInEpoch: i + 1,
        stepsInEpoch: batches.length,
        samples: out.count,
        epochSamples: sums.count,
        loss: s.last!.loss,
        acc: s.last!.acc,
        metrics: meansByName(s.metricNames, out.metrics, out.count),
        lrFactor: s.lrFactor(),
        ms,
        timings: out.timings,
      });
      if (every > 0 && s.step % every === 0 && i + 1 < batches.length)
        await checkpoint('every', epoch, i + 1, sumsToCheckpoint(sums));
    }
    // Stopped mid-epoch (a signal, or --max-steps): a checkpoint to go on from exactly here.
    if (s.stopped !== null && i < batches.length)
      await checkpoint(s.stopped, epoch, i, sumsToCheckpoint(sums));
    s.trainMs += sums.ms;
    s.trainSamples += sums.count;
    const complete = sums.count + sums.skipped === s.trainCount;
    if (sums.count === 0) break;
    if (!complete && s.stopped !== 'max-steps') break; // interrupted: no evaluation, save below
    const ev = await report.phase('evaluate', () => group.evaluate(config.evalLimit), { epoch });
    s.testAcc = ev.correct / ev.count;
    if (complete) s.epochsCompleted = epoch;
    const trainLoss = sums.lossSum / sums.count;
    const trainAcc = sums.correct / sums.count;
    s.last = { loss: trainLoss, acc: trainAcc };
    report.epoch({
      epoch,
      complete,
      trainLoss,
      trainAcc,
      trainMetrics: meansByName(s.metricNames, sums.metrics, sums.count),
      testLoss: ev.lossSum / ev.count,
      testAcc: s.testAcc,
      testMetrics: meansByName(s.metricNames, ev.metrics, ev.count),
      testCount: ev.count,
      samplesPerS: (sums.count * 1000) / sums.ms,
      wallS: (performance.now() - s.t0) / 1000,
    });
    if (complete) await checkpoint('epoch', epoch + 1, 0, { lossSum: 0, correct: 0, count: 0, ms: 0 });
  }

  const interrupted = s.stopped !== null && s.stopped !== 'max-steps';
  if (s.stopped !== null) report.stopped(s.stopped, s.step);
  // Every rank applied the same updates: their weights must be bit-identical.
  await takeChanges(ctx);
  const checksums = await verifiedChecksums(ctx, 'the final save');
  const files = await report.phase('save the model', () =>
    group.save({
      dir: runDir.file('model'),
      meta: {
        step: s.step,
        epochs_completed: s.epochsCompleted,
        status: interrupted ? 'interrupted' : 'completed',
      },
    }),
  );
  await takeChanges(ctx);
  const summary = runSummary(ctx, { interrupted, checksums, files });
  runDir.writeSummary(summary);
  return summary;
}
