// The memory-fit batch search and out-of-memory recovery as a user meets them: the real binary,
// the real wasm backend and real child-process trials. A per-rank batch that does not fit the memory
// budget runs through gradient accumulation with the global batch unchanged; an out-of-memory on
// one rank mid-run is replayed with a smaller micro-batch on that rank, with no step lost.
import { join } from 'node:path';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { beforeAll, describe, expect, it } from 'vitest';
import { readJson, readJsonLines, runCli, tmp } from './support/spawn-cli';

let data: string;
const common = () => ['--data-dir', data, '--verify-data', 'false', '--resize', '32', '--backend', 'wasm', '--epochs', '1'];

/**
 * 3 steps of 2 workers, global batch 32, micro-batch 16, with a failure injected through `env`;
 * checks that the run completed all 3 and returns its run directory and summary.json.
 */
async function trainWithInjected(label: string, env: Record<string, string>) {
  const runDir = join(tmp(label), 'r');
  const r = await runCli(['train', ...common(), '--workers', '2', '--batch-size', '32', '--micro-batch', '16', '--max-steps', '3', '--run-dir', runDir], env);
  expect(r.stderr).toMatch(/done: 3 steps/);
  expect(r.code).toBe(0);
  return { runDir, summary: readJson(join(runDir, 'summary.json')) };
}

beforeAll(async () => {
  data = tmp('data');
  await writeSyntheticFashionMnist(data, { train: 256, test: 32, seed: 5 });
});

describe('--micro-batch auto under a memory budget', () => {
  it('measures what fits, plans accumulation, and trains with the global batch asked for', async () => {
    const runDir = join(tmp('fit'), 'r');
    const r = await runCli(['train', ...common(), '--workers', '1', '--batch-size', '128', '--memory-budget', '64MiB', '--max-steps', '2', '--run-dir', runDir]);
    expect(r.stderr).toMatch(/done: 2 steps/);
    expect(r.code).toBe(0);
    const summary = readJson(join(runDir, 'summary.json'));
    expect(summary['global_batch']).toBe(128);
    const [plan] = summary['batch_plan'] as { samples: number; micro_batch: number; accumulation: number; capacity: number }[];
    // 64 MiB holds about 45 samples of the 32×32 model: 128 need 3 micro-batches (160 MiB held
    // about 50 while wasm copied every tensor saved for the backward pass; it now holds all 128).
    expect(plan!.samples).toBe(128);
    expect(plan!.micro_batch).toBeLessThan(128);
    expect(plan!.micro_batch).toBeGreaterThan(16);
    expect(plan!.accumulation).toBe(Math.ceil(128 / plan!.micro_batch));
    const [fit] = summary['memory_fit_per_rank'] as { budget_bytes: number; usable_bytes: number; trials: { micro_batch: number; peak_bytes: number; ran: boolean }[] }[];
    expect(fit!.budget_bytes).toBe(64 * 2 ** 20);
    expect(fit!.trials.length).toBeLessThanOrEqual(4);
    // The chosen micro-batch was itself a trial, and it fitted.
    const chosen = fit!.trials.find((t) => t.micro_batch === plan!.micro_batch)!;
    expect(chosen.ran && chosen.peak_bytes <= fit!.usable_bytes).toBe(true);
    const steps = readJsonLines(join(runDir, 'metrics.jsonl')).filter((m) => m['event'] === 'step');
    expect(steps.map((s) => s['samples'])).toEqual([128, 128]);
    expect(steps.map((s) => (s['timings'] as { micro_batches: number }[])[0]!.micro_batches)).toEqual([plan!.accumulation, plan!.accumulation]);
  });

  // The real ceiling: the wasm heap's 4 GiB at 96×96 (a trial near it is a real training step of
  // ~830 samples). How a micro-batch below the per-rank batch is then planned and trained by
  // accumulation is the first test's, under --memory-budget.
  it('find-batch measures what the wasm heap holds at 96×96 (fewer than 1,000 samples) with real trial steps', async () => {
    const r = await runCli(['find-batch', '--data-dir', data, '--verify-data', 'false', '--backend', 'wasm', '--resize', '96', '--batch-size', '1000', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { micro_batch: number; capped: boolean; budget_bytes: number; usable_bytes: number; trials: { micro_batch: number; ran: boolean; peak_bytes: number }[] };
    expect(report.budget_bytes).toBe(4_294_901_760);
    // About 830 samples of the 96×96 step fill the 4 GiB heap (150 while saved tensors were copied,
    // 390 before the moving statistics left the tape, 400 while the reverse pass kept every
    // gradient to its end, 630 while each dense-block concatenation was made and kept;
    // docs/benchmarks.md).
    expect(report).toMatchObject({ capped: false });
    expect(report.micro_batch).toBeGreaterThan(500);
    expect(report.micro_batch).toBeLessThan(1000);
    expect(report.trials.length).toBeLessThanOrEqual(4);
    const chosen = report.trials.find((t) => t.micro_batch === report.micro_batch)!;
    expect(chosen.ran).toBe(true);
    expect(chosen.peak_bytes).toBeLessThanOrEqual(report.usable_bytes);
    expect(chosen.peak_bytes).toBeGreaterThan(report.usable_bytes * 0.8);
  }, 240_000);
});

describe('an out-of-memory on one rank during training', () => {
  it('replays the step with a smaller micro-batch on that rank: no step lost, same global batch, identical ranks', async () => {
    const { runDir, summary } = await trainWithInjected('oom', { TFJS_DDP_INJECT_OOM: '1:2' });
    expect(summary).toMatchObject({ status: 'completed', steps: 3, global_batch: 32, oom_events: 1, micro_batch_per_rank: [16, 8] });
    expect(summary['oom_backoffs']).toEqual([
      expect.objectContaining({ event: 'oom', step: 2, rank: 1, old_micro_batch: 16, new_micro_batch: 8, accumulation: 2, reason: expect.stringMatching(/injected/) }),
    ]);
    const sums = summary['weights_checksum_per_rank'] as string[];
    expect(new Set(sums).size).toBe(1);
    const metrics = readJsonLines(join(runDir, 'metrics.jsonl'));
    expect(metrics.filter((m) => m['event'] === 'oom')).toHaveLength(1);
    const steps = metrics.filter((m) => m['event'] === 'step');
    expect(steps.map((s) => s['step'])).toEqual([1, 2, 3]);
    expect(steps.map((s) => s['samples'])).toEqual([32, 32, 32]);
    expect(steps.map((s) => (s['timings'] as { micro_batches: number }[])[1]!.micro_batches)).toEqual([1, 2, 2]);
    expect(readJsonLines(join(runDir, 'train.log')).some((l) => l['msg'] === 'out of memory: replaying the step with a smaller micro-batch on that rank')).toBe(true);
  });
});

describe('a worker whose backend crashes during training', () => {
  it('is replaced by a new process that re-syncs from another rank; the step is replayed and the run completes', async () => {
    const { runDir, summary } = await trainWithInjected('crash', { TFJS_DDP_INJECT_CRASH: '1:2' });
    expect(summary).toMatchObject({ status: 'completed', steps: 3, restarts: 1, oom_events: 1, micro_batch_per_rank: [16, 8] });
    expect(summary['oom_backoffs']).toEqual([expect.objectContaining({ step: 2, rank: 1, restarted: true, reason: expect.stringMatching(/memory access out of bounds/) })]);
    expect(new Set(summary['weights_checksum_per_rank'] as string[]).size).toBe(1);
    const log = readJsonLines(join(runDir, 'train.log'));
    const launched = log.find((l) => l['msg'] === 'workers launched')!['pids'] as number[];
    const replaced = log.find((l) => l['msg'] === 'a worker was replaced')!;
    expect(replaced).toMatchObject({ event: 'restart', rank: 1, old_pid: launched[1], cause: expect.stringMatching(/^crashed its backend \(memory access out of bounds/) });
    expect(replaced['new_pid']).not.toBe(launched[1]);
    expect(log.find((l) => l['msg'] === 'ranks re-synced')).toMatchObject({ targets: [1], from: 0 });
    const steps = readJsonLines(join(runDir, 'metrics.jsonl')).filter((m) => m['event'] === 'step');
    expect(steps.map((s) => s['samples'])).toEqual([32, 32, 32]);
  });
});
