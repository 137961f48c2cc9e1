// A small run directory's files as text, for the report specs (report-data, report-charts,
// render-html, write-report): 2 ranks, 4 steps in 2 epochs, an OOM back-off at step 2, a restart at
// step 3, a resume that re-logs step 3 and a stop. Not used outside the specs.
import type { RunFiles } from './report-data';

const T0 = Date.parse('2026-01-02T03:04:05.000Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();
const timings = (ms: number) => [
  { rank: 0, data_ms: 5, compute_ms: 40, allreduce_ms: 10, apply_ms: 2, micro_batches: 1 },
  { rank: 1, data_ms: 6, compute_ms: ms, allreduce_ms: 4, apply_ms: 3, micro_batches: 2 },
];
const fit = { budget_bytes: 4 * 2 ** 30, usable_bytes: 3.8 * 2 ** 30, base_bytes: 2 ** 28, bytes_per_sample: 2 ** 22, trials: [{ micro_batch: 8, peak_bytes: 2 ** 29, ran: true }, { micro_batch: 16, peak_bytes: 2 ** 30, ran: true }], capped: false, search_ms: 2500 };
const worker = (rank: number) => ({ rank, pid: 100 + rank, host: 'h', backend: 'wasm', device: 'cpu', adapter: null, params: 10, weights_hash: 'x', micro_batch: 16, memory_fit: fit, train_count: 64, test_count: 8 });
const plan = [0, 1].map((rank) => ({ rank, capacity: 16, samples: 8, micro_batch: 8, accumulation: 1 }));

export const METRICS = [
  { time: at(0), event: 'start', epochs: 2, steps_per_epoch: 2, train_count: 32, global_batch: 16, batch_plan: plan, workers: [worker(0), worker(1)] },
  { time: at(1), event: 'step', epoch: 1, step: 1, loss: 2.3, acc: 0.1, samples: 16, ms: 80, samples_per_s: 200, timings: timings(50) },
  { time: at(2), event: 'oom', step: 2, attempt: 0, rank: 1, old_micro_batch: 8, new_micro_batch: 4, accumulation: 2, reason: 'injected', restarted: false },
  { time: at(3), event: 'step', epoch: 1, step: 2, loss: 2.1, acc: 0.2, samples: 16, ms: 60, samples_per_s: 266, timings: timings(70) },
  { time: at(4), event: 'epoch', epoch: 1, complete: true, train_loss: 2.2, train_acc: 0.15, test_loss: 2.0, test_acc: 0.25, test_count: 8, samples_per_s: 230, wall_s: 4 },
  { time: at(5), event: 'restart', step: 3, attempt: 0, rank: 1, old_pid: 101, new_pid: 102, host: 'h', cause: 'was killed by SIGKILL', last_lines: [] },
  { time: at(6), event: 'step', epoch: 2, step: 3, loss: 1.9, acc: 0.3, samples: 16, ms: 90, samples_per_s: 177, timings: timings(50) },
  { time: at(10), event: 'resume', from: '/runs/r/checkpoints/step-00000002', step: 2, epoch: 2, batch_in_epoch: 0, workers: 2, previous_workers: 2 },
  { time: at(11), event: 'start', epochs: 2, steps_per_epoch: 2, train_count: 32, global_batch: 16, batch_plan: plan, workers: [worker(0), worker(1)] },
  { time: at(12), event: 'step', epoch: 2, step: 3, loss: 1.8, acc: 0.35, samples: 16, ms: 90, samples_per_s: 177, timings: timings(50) },
  { time: at(13), event: 'stopped', reason: 'SIGINT', step: 3 },
];

export const SUMMARY = {
  status: 'interrupted', backend: 'wasm', device: 'cpu', workers: 2, adapter_per_rank: [null, null], trainable_params: 10, global_batch: 16, micro_batch_per_rank: [8, 4],
  batch_plan: plan, memory_fit_per_rank: [fit, fit], epochs: 2, epochs_completed: 1, steps: 3, train_loss: 1.8, train_acc: 0.35, test_acc: 0.25, samples_per_s: 210, wall_s: 13,
  restarts: 1, oom_events: 1, skipped_steps: 0,
};

/** The fixture run's files; `omit` leaves some out (as a run that failed early, or was killed). */
export function fixtureFiles(omit: ('config' | 'metrics' | 'summary')[] = []): RunFiles {
  const files: RunFiles = {
    path: '/runs/20260102-030405',
    config: JSON.stringify({ lr: 0.1, batch_size: 16, epochs: 2, backend: 'wasm', note: '</script><script>alert(1)</script>' }),
    metrics: `${METRICS.map((m) => JSON.stringify(m)).join('\n')}\n{"time":"2026-01-02T03:04:1`,
    summary: JSON.stringify(SUMMARY),
    present: { 'train.log': true, 'model/model.json': true },
  };
  for (const k of omit) files[k] = null;
  return files;
}
