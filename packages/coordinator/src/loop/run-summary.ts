// summary.json's figures from the loop's state at the end of a run. Called once by train-loop.ts,
// after the final save; the run directory writes it.
import { memoryFitToJson } from '../run-documents';
import type { RunSummary } from '../run-dir';
import type { LoopContext } from './loop-state';

/** The run's summary, from the ranks now (an elastic run may have changed them) and the loop's counts. */
export function runSummary(
  ctx: LoopContext,
  end: { interrupted: boolean; checksums: string[]; files: string[] },
): RunSummary {
  const { config, group, state: s } = ctx;
  const final = group.describe();
  return {
    status: end.interrupted ? 'interrupted' : 'completed',
    backend: final[0]!.backend,
    device: final[0]!.device,
    workers: final.length,
    // webgpu: the adapter each rank ran on (null on the other backends).
    adapter_per_rank: final.map((w) => w.adapter),
    trainable_params: final[0]!.params,
    global_batch: s.batchSize,
    micro_batch_per_rank: s.microBatches,
    batch_plan: s.plan(),
    memory_fit_per_rank: final.map((w) => (w.memoryFit === null ? null : memoryFitToJson(w.memoryFit))),
    epochs: config.epochs,
    epochs_completed: s.epochsCompleted,
    steps: s.step,
    train_loss: s.last?.loss ?? null,
    train_acc: s.last?.acc ?? null,
    test_acc: s.testAcc,
    samples_per_s: s.trainMs > 0 ? (s.trainSamples * 1000) / s.trainMs : null,
    wall_s: (performance.now() - s.t0) / 1000,
    restarts: s.restarts,
    oom_events: s.backoffs.length,
    oom_backoffs: s.backoffs,
    restart_events: s.restartEvents,
    membership_events: s.membershipEvents,
    skipped_steps: s.skippedSteps,
    stop_reason: s.stopped,
    weights_checksum_per_rank: end.checksums,
    model_files: end.files,
    ...group.security?.(),
  };
}
