// Data-parallel training as a user runs it: the real binary starts a coordinator and N worker
// processes that all-reduce over ZeroMQ (ipc://). Checked through exit codes, summary.json, metrics
// and the processes themselves (a killed worker fails the run promptly, naming it; no orphans).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { beforeAll, describe, expect, it } from 'vitest';
import { running } from './support/processes';
import { readJson, readJsonLines, runCli, startCli, tmp } from './support/spawn-cli';

// Tests here act on a run after one of its step lines: its runs take the wasm kernels' steps, for
// which they were written (with the native kernels a short run can end before the test acts).
process.env['TFJS_DDP_CPU_KERNELS'] = 'wasm';

let data: string;
const common = () => ['--data-dir', data, '--verify-data', 'false', '--resize', '32', '--backend', 'wasm'];

beforeAll(async () => {
  data = tmp('data');
  await writeSyntheticFashionMnist(data, { train: 160, test: 48, seed: 9 });
});

describe.each([2, 3])('tfjs-ddp train --workers %i', (n) => {
  it('trains with every rank ending on identical weights, reported in summary.json', async () => {
    const runDir = join(tmp('dist'), 'r');
    const r = await runCli(['train', ...common(), '--workers', String(n), '--batch-size', '30', '--epochs', '1', '--max-steps', '4', '--run-dir', runDir]);
    expect(r.stderr).toMatch(/done: 4 steps/);
    expect(r.code).toBe(0);
    const summary = readJson(join(runDir, 'summary.json'));
    expect(summary).toMatchObject({ status: 'completed', workers: n, steps: 4, global_batch: 30 });
    const sums = summary['weights_checksum_per_rank'] as string[];
    expect(sums).toHaveLength(n);
    expect(new Set(sums).size).toBe(1);
    const steps = readJsonLines(join(runDir, 'metrics.jsonl')).filter((m) => m['event'] === 'step');
    expect(steps).toHaveLength(4);
    for (const s of steps) {
      const timings = s['timings'] as { rank: number; allreduce_ms: number }[];
      expect(timings.map((t) => t.rank)).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(s['samples']).toBe(30);
    }
    for (let i = 0; i < n; i++) expect(existsSync(join(runDir, `worker-${i}.log`))).toBe(true);
    expect(existsSync(join(runDir, 'model', 'model.json'))).toBe(true);
    expect(typeof summary['test_acc']).toBe('number');
  });
});

describe('a worker that dies, with --max-restarts 0', () => {
  it('fails the run within seconds with the rank, pid and signal, and leaves no worker running', async () => {
    const runDir = join(tmp('dist'), 'r');
    // Without --max-restarts 0 the worker would be replaced (test/reliability.test.ts).
    const run = startCli(['train', ...common(), '--workers', '2', '--batch-size', '16', '--epochs', '20', '--max-restarts', '0', '--run-dir', runDir]);
    await run.waitForLine(/"type":"step".*"step":2,/);
    const launched = readJsonLines(join(runDir, 'train.log')).find((l) => l['msg'] === 'workers launched')!;
    const pids = launched['pids'] as number[];
    process.kill(pids[1]!, 'SIGKILL');
    const t0 = Date.now();
    const r = await run.exit;
    // The exit is seen at once (the launcher's exit event); what takes time is the orderly shutdown:
    // LocalWorkers.stop's 5 s grace, 2 s after SIGTERM, 2 s after SIGKILL, plus the run's own exit,
    // with as much again for a loaded 2-core machine.
    expect(Date.now() - t0).toBeLessThan(2 * (5_000 + 2_000 + 2_000));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`E_WORKER_FAILED: rank 1 \\(pid ${pids[1]}\\) was killed by SIGKILL at step \\d+`));
    expect(readJson(join(runDir, 'summary.json'))['status']).toBe('failed');
    expect(pids.filter(running)).toEqual([]);
  });
});

describe('missing data', () => {
  it('fails before any worker starts, with the data layer\'s message', async () => {
    const runDir = join(tmp('nodata'), 'r');
    const missing = join(tmp('nodata'), 'empty');
    const r = await runCli(['train', '--data-dir', missing, '--resize', '32', '--backend', 'wasm', '--workers', '2', '--batch-size', '16', '--run-dir', runDir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_DATA_NOT_FOUND: .*empty/);
    expect(r.stderr).not.toMatch(/rendezvous/);
    const log = readJsonLines(join(runDir, 'train.log'));
    expect(log.some((l) => l['msg'] === 'workers launched')).toBe(false);
    expect(existsSync(join(runDir, 'worker-0.log'))).toBe(false);
    expect(readJson(join(runDir, 'summary.json'))['status']).toBe('failed');
  });
});
