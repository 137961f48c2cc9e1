// Issue 11, "a remote worker is lost": a multi-node run (coordinator on tcp://, workers started
// apart from it, as srun or Kubernetes would) with --min-workers 1 goes on without a worker that was
// SIGKILLed, with the same global batch split over the rank that remains, and takes in a new
// `tfjs-ddp worker --join` at a step boundary, synced from the healthy rank. On loopback, so no key.
import { join } from 'node:path';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { beforeAll, describe, expect, it } from 'vitest';
import { running } from './support/processes';
import { freePort } from './support/ports';
import { readJson, readJsonLines, runCli, startCli, tmp } from './support/spawn-cli';

// Tests here act on a run after one of its step lines: its runs take the wasm kernels' steps, for
// which they were written (with the native kernels a short run can end before the test acts).
process.env['TFJS_DDP_CPU_KERNELS'] = 'wasm';

let data: string;

beforeAll(async () => {
  data = tmp('data');
  // 20 steps an epoch, 3 epochs: enough steps left after the loss for a new worker to start and join.
  await writeSyntheticFashionMnist(data, { train: 320, test: 32, seed: 9 });
});

// With --micro-batch 8, one rank alone computes a global batch of 16 as the same two micro-batches
// of 8, in the same order, that two ranks sum over the ring: the arithmetic is the same, so the
// weights are too (test/cli-parity.test.ts measured a difference of 0).
const settings = () => ['--data-dir', data, '--verify-data', 'false', '--resize', '32', '--backend', 'wasm', '--batch-size', '16', '--micro-batch', '8', '--epochs', '3'];

describe('an elastic multi-node run (--min-workers 1)', () => {
  it('goes on without a lost worker, takes in a new one, and ends with the weights of an undisturbed run', async () => {
    const reference = join(tmp('undisturbed'), 'r');
    const u = await runCli(['train', ...settings(), '--workers', '2', '--run-dir', reference]);
    expect(u.code, u.stderr).toBe(0);

    const address = `tcp://127.0.0.1:${await freePort()}`;
    const runDir = join(tmp('elastic'), 'r');
    const coordinator = startCli(['coordinator', '--listen', address, '--world-size', '2', '--min-workers', '1', ...settings(), '--run-dir', runDir]);
    const workers = [0, 1].map((rank) => startCli(['worker', '--join', address], { RANK: String(rank) }));
    await coordinator.waitForLine(/"type":"step".*"step":2,/);
    workers[1]!.child.kill('SIGKILL');
    // No process exit to see on another host: noticed when it has answered no ping for 10 s (the
    // default step timeout is 600 s); the run goes on with rank 0 alone.
    await coordinator.waitForLine(/"type":"membership".*"kind":"shrink","world_size":1/, 60_000);
    const joiner = startCli(['worker', '--join', address]);
    await coordinator.waitForLine(/"type":"membership".*"kind":"grow","world_size":2/, 60_000);
    const r = await coordinator.exit;
    expect(r.code, r.stderr).toBe(0);

    const summary = readJson(join(runDir, 'summary.json'));
    expect(summary).toMatchObject({ status: 'completed', steps: 60, workers: 2, global_batch: 16 });
    const events = readJsonLines(join(runDir, 'metrics.jsonl'));
    const membership = events.filter((m) => m['event'] === 'membership');
    expect(membership.map((m) => [m['kind'], m['workers']])).toEqual([
      ['shrink', 1],
      ['grow', 2],
    ]);
    expect(membership[0]!['lost']).toEqual([expect.objectContaining({ rank: 1, cause: expect.stringMatching(/^went silent: no answer to the coordinator's pings for 1\d s/) })]);
    // The global batch stays 16 samples a step whether one rank or two compute it.
    expect(events.filter((m) => m['event'] === 'step').map((m) => m['samples'])).toEqual(Array(60).fill(16));
    const shrunk = membership[0]!['batch_plan'] as { samples: number; accumulation: number }[];
    expect(shrunk).toEqual([expect.objectContaining({ samples: 16, accumulation: 2 })]);
    const sums = summary['weights_checksum_per_rank'] as string[];
    expect(sums).toEqual(readJson(join(reference, 'summary.json'))['weights_checksum_per_rank']);
    // Every worker process has ended: the two that stayed were told to stop.
    await Promise.all([workers[0]!.exit, joiner.exit]);
    for (const w of [...workers, joiner]) expect(running(w.child.pid!)).toBe(false);
  });

  it('turns away a joiner that fails before it is taken in, without touching the run, and keeps its host out for a while', async () => {
    const address = `tcp://127.0.0.1:${await freePort()}`;
    const runDir = join(tmp('elastic-bad-joiner'), 'r');
    const coordinator = startCli(['coordinator', '--listen', address, '--world-size', '2', '--min-workers', '1', ...settings(), '--run-dir', runDir]);
    const workers = [0, 1].map((rank) => startCli(['worker', '--join', address], { RANK: String(rank) }));
    await coordinator.waitForLine(/"type":"step".*"step":2,/);
    workers[1]!.child.kill('SIGKILL');
    await coordinator.waitForLine(/"type":"membership".*"kind":"shrink","world_size":1/, 60_000);
    // A joiner whose data is not there fails while it builds its engine: sent away, the run goes on.
    const bad = await runCli(['worker', '--join', address, '--data-dir', join(tmp('empty'), 'none')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/E_DATA_NOT_FOUND/);
    // Its host (this one) is kept out for a back-off: the next joiner from it is told to wait.
    const early = await runCli(['worker', '--join', address]);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/E_CLOSED: the coordinator at tcp:\/\/127\.0\.0\.1:\d+ turned this worker away: its host \S+ is kept out of this run until \S+: a worker from it failed to join 1 time\(s\), the last: E_DATA_NOT_FOUND/);
    const r = await coordinator.exit;
    expect(r.code, r.stderr).toBe(0);
    const summary = readJson(join(runDir, 'summary.json'));
    expect(summary).toMatchObject({ status: 'completed', steps: 60, workers: 1 });
    // The run shrank once and was never grown: neither joiner was taken in.
    const membership = readJsonLines(join(runDir, 'metrics.jsonl')).filter((m) => m['event'] === 'membership');
    expect(membership.map((m) => m['kind'])).toEqual(['shrink']);
    const log = readJsonLines(join(runDir, 'train.log'));
    expect(log.some((l) => l['msg'] === 'a joining worker failed before it was taken in: sent away')).toBe(true);
    await workers[0]!.exit;
  });
});
