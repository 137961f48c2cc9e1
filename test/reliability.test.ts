// Issue 11, "faults during training", through the real binary on wasm: a worker SIGKILLed while it
// computes or in the middle of the all-reduce, or SIGSTOPped, is replaced by a new process that takes
// a healthy rank's state, the step is replayed, and the run ends with the trainable weights of an
// undisturbed run, bit for bit (the weight checksum). Every run trains with Adam
// (fixtures/densenet-adam: a DenseNet of the seed's shape, on the seed's data), so the state a
// replacement and a resume move has optimizer slots (m and v, the iteration count, the running β
// powers) to lose. Past --max-restarts the run fails naming the worker, and its checkpoint
// continues it to the same weights. A non-finite gradient is skipped on
// every rank. A finite but wrong gradient (issue 20, silent data corruption) is caught by the audit,
// which names the rank, and ranks whose weights differ write no checkpoint. Every row of
// docs/reliability.md that concerns a worker is one of these tests.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { beforeAll, describe, expect, it } from 'vitest';
import { allWorkerPids, launchedPids, running } from './support/processes';
import { readJson, readJsonLines, repoRoot, runCli, startCli, tmp, type Exit } from './support/spawn-cli';

// These tests act on a run between two of its steps (after the step-2 line, a SIGKILL, a SIGSTOP, a
// clock change): every run here takes the wasm kernels' steps (≈ 0.15 s at 32×32), for which they
// were written; with the native ones a 6-step run can end before the test acts.
process.env['TFJS_DDP_CPU_KERNELS'] = 'wasm';

let data: string;
/** The weight checksum of the undisturbed run. */
let reference: string;

// 160 samples, global batch 16: 10 steps; capped at 6. A fixed micro-batch skips the memory search.
const common = () => ['train', '--model', join(repoRoot, 'test/fixtures/densenet-adam/model.mjs'), '--data-dir', data, '--verify-data', 'false', '--resize', '32', '--backend', 'wasm', '--workers', '2', '--batch-size', '16', '--micro-batch', '8', '--epochs', '1', '--max-steps', '6'];

beforeAll(async () => {
  data = tmp('data');
  await writeSyntheticFashionMnist(data, { train: 160, test: 32, seed: 9 });
  const runDir = join(tmp('undisturbed'), 'r');
  const r = await runCli([...common(), '--run-dir', runDir]);
  expect(r.code, r.stderr).toBe(0);
  const sums = readJson(join(runDir, 'summary.json'))['weights_checksum_per_rank'] as string[];
  expect(new Set(sums).size).toBe(1);
  reference = sums[0]!;
});

/** Runs a training in which something happens to rank 1 once step `after` is done (or by injection). */
async function disturbed(args: string[], env: NodeJS.ProcessEnv, act?: (pid: number) => void, after = 2): Promise<{ r: Exit; runDir: string; summary: Record<string, unknown> }> {
  const runDir = join(tmp('fault'), 'r');
  const run = startCli([...common(), '--run-dir', runDir, ...args], env);
  if (act !== undefined) {
    await run.waitForLine(new RegExp(`"type":"step".*"step":${after},`));
    act(launchedPids(runDir)[1]!);
  }
  const r = await run.exit;
  // No worker outlives its run, the replacements included.
  expect(allWorkerPids(runDir).filter(running)).toEqual([]);
  return { r, runDir, summary: readJson(join(runDir, 'summary.json')) };
}

/** The run completed all its steps with one restart of rank 1, and the weights of the undisturbed run. */
function expectReplaced(x: { r: Exit; runDir: string; summary: Record<string, unknown> }, cause: RegExp): void {
  expect(x.r.code, x.r.stderr).toBe(0);
  expect(x.summary).toMatchObject({ status: 'completed', steps: 6, restarts: 1 });
  const [event] = x.summary['restart_events'] as Record<string, unknown>[];
  expect(event).toMatchObject({ event: 'restart', rank: 1 });
  expect(event!['cause']).toMatch(cause);
  expect(event!['new_pid']).not.toBe(event!['old_pid']);
  const restarts = readJsonLines(join(x.runDir, 'metrics.jsonl')).filter((m) => m['event'] === 'restart');
  expect(restarts).toHaveLength(1);
  // Every step was trained once: the replayed one is logged once, after the restart.
  const steps = readJsonLines(join(x.runDir, 'metrics.jsonl')).filter((m) => m['event'] === 'step').map((m) => m['step']);
  expect(steps).toEqual([1, 2, 3, 4, 5, 6]);
  expect(x.summary['weights_checksum_per_rank']).toEqual([reference, reference]);
}

describe('a worker lost during a step', () => {
  it('SIGKILLed while it computes: replaced, the step replayed, the weights of an undisturbed run; the audit self-checks again after the replacement', async () => {
    const x = await disturbed(['--audit-every', '1'], {}, (pid) => process.kill(pid, 'SIGKILL'));
    expectReplaced(x, /^was killed by SIGKILL$/);
    // The first audit, and the first one after the new process came in, have each rank repeat its own step.
    const metrics = readJsonLines(join(x.runDir, 'metrics.jsonl'));
    const restartStep = metrics.find((m) => m['event'] === 'restart')!['step'] as number;
    const selfChecked = metrics.filter((m) => m['event'] === 'audit' && m['self_checks'] !== undefined).map((m) => m['step'] as number);
    expect(selfChecked).toHaveLength(2);
    expect(selfChecked[0]).toBe(1);
    expect(selfChecked[1]! - restartStep).toBeGreaterThanOrEqual(0);
    expect(selfChecked[1]! - restartStep).toBeLessThanOrEqual(1);
    expect(metrics.filter((m) => m['event'] === 'audit').map((m) => m['step'])).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('SIGKILLed in the middle of the all-reduce: the other rank leaves the ring, same weights', async () => {
    const x = await disturbed([], { TFJS_DDP_INJECT_KILL: '1:3' });
    expectReplaced(x, /^was killed by SIGKILL$/);
    expect((x.summary['restart_events'] as Record<string, unknown>[])[0]!['step']).toBe(3);
    const left = readJsonLines(join(x.runDir, 'worker-0.log')).find((l) => l['msg'] === 'leaving the step: a rank was lost');
    expect(left).toMatchObject({ step: 3, rank: 0 });
  });

  it('SIGKILLed while a checkpoint is written: replaced, the checkpoint written, same weights', async () => {
    // --checkpoint-every 2: the first checkpoint (after step 2) is the run's first collective.
    const x = await disturbed(['--checkpoint-every', '2'], { TFJS_DDP_INJECT_KILL_COLLECTIVE: '1:1' });
    expectReplaced(x, /^was killed by SIGKILL$/);
    const lost = readJsonLines(join(x.runDir, 'train.log')).find((l) => l['msg'] === 'rank lost: every other rank leaves what it was doing');
    expect(lost).toMatchObject({ rank: 1, during: 'the checkpoint' });
    const checkpoints = readJsonLines(join(x.runDir, 'metrics.jsonl')).filter((m) => m['event'] === 'checkpoint').map((m) => m['step']);
    expect(checkpoints).toEqual([2, 4, 6]);
  });

  it('SIGSTOPped: named by the stall inspector after --step-timeout, killed, replaced, same weights', async () => {
    const x = await disturbed(['--step-timeout', '6'], {}, (pid) => process.kill(pid, 'SIGSTOP'));
    expectReplaced(x, /^stalled: no reply after 6 s and none to a probe; it was last seen (idle after|in \w+ of) step \d/);
  });
});

// Issue 20, "pauses and clocks": a stopped process is not a lost one when it was the coordinator
// that did not watch. Both pauses are longer than a silent rank's allowance (10 s).
describe('a paused run', () => {
  it('goes on without a restart when the whole run, and then the coordinator alone, stop for 11 s', async () => {
    const runDir = join(tmp('paused'), 'r');
    const run = startCli([...common(), '--run-dir', runDir]);
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    await run.waitForLine(/"type":"step".*"step":2,/);
    // Ctrl-Z stops the process group. The workers first, so that the coordinator is surely stopped
    // while it waits for their step (where it judges silence), not between two steps.
    const workers = launchedPids(runDir);
    workers.forEach((pid) => process.kill(pid, 'SIGSTOP'));
    await sleep(300);
    process.kill(-run.child.pid!, 'SIGSTOP');
    await sleep(11_000);
    process.kill(-run.child.pid!, 'SIGCONT');
    await run.waitForLine(/"type":"step".*"step":4,/);
    // The coordinator alone: the workers wait for it, and do not take it for dead.
    process.kill(run.child.pid!, 'SIGSTOP');
    await sleep(11_000);
    process.kill(run.child.pid!, 'SIGCONT');
    const r = await run.exit;
    expect(r.code, r.stderr).toBe(0);
    expect(readJson(join(runDir, 'summary.json'))).toMatchObject({ status: 'completed', steps: 6, restarts: 0 });
    expect(readJsonLines(join(runDir, 'train.log')).filter((l) => l['msg'] === 'the coordinator was paused: silence is judged again from now').length).toBeGreaterThanOrEqual(1);
    expect(readJson(join(runDir, 'summary.json'))['weights_checksum_per_rank']).toEqual([reference, reference]);
  });
});

// A wall clock set forward an hour, then back a day (NTP, `date -s`), under libfaketime: only
// CLOCK_REALTIME moves (FAKETIME_DONT_FAKE_MONOTONIC), for the coordinator and every worker. The
// offset file is read at every clock call (FAKETIME_NO_CACHE), and the test waits for a step whose
// time shows each jump before it makes the next: no race with the run's speed.
const FAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';
const haveFaketime = existsSync(FAKETIME);
// CI runs .ci/run as root, which installs it: there a missing library fails the test.
const mustHaveFaketime = process.env['CI'] === 'true' && process.getuid?.() === 0;
if (!haveFaketime && !mustHaveFaketime) process.stdout.write(`reliability.test.ts: wall-clock test skipped: no ${FAKETIME} (apt-get install faketime)\n`);

describe('a wall clock that jumps', () => {
  it.skipIf(!haveFaketime && !mustHaveFaketime)('changes nothing: no rank judged silent, no restart, the weights of an undisturbed run', async () => {
    expect(existsSync(FAKETIME), `${FAKETIME} is missing: .ci/run installs faketime`).toBe(true);
    const dir = tmp('clock');
    const offset = join(dir, 'offset');
    writeFileSync(offset, '+0\n');
    const runDir = join(dir, 'r');
    const env = { LD_PRELOAD: FAKETIME, FAKETIME_TIMESTAMP_FILE: offset, FAKETIME_DONT_FAKE_MONOTONIC: '1', FAKETIME_NO_CACHE: '1' };
    const run = startCli([...common(), '--run-dir', runDir], env);
    const hour = 3_600_000;
    // The wall time of the newest step in metrics.jsonl (stdout's step lines carry none), NaN if none yet.
    const newestStepTime = () => {
      const steps = readJsonLines(join(runDir, 'metrics.jsonl')).filter((m) => m['event'] === 'step');
      return steps.length === 0 ? NaN : Date.parse(steps[steps.length - 1]!['time'] as string);
    };
    await run.waitForLine(/"type":"step".*"step":2,/);
    writeFileSync(offset, '+3600\n');
    // The first step an hour ahead of this process's clock (which libfaketime does not touch): the
    // jump reached the run, with steps to come.
    await run.waitForLine(/"type":"step"/, 120_000, () => newestStepTime() - Date.now() > 0.9 * hour);
    writeFileSync(offset, '-86400\n');
    const r = await run.exit;
    expect(r.code, r.stderr).toBe(0);
    const summary = readJson(join(runDir, 'summary.json'));
    expect(summary).toMatchObject({ status: 'completed', steps: 6, restarts: 0 });
    expect(summary['weights_checksum_per_rank']).toEqual([reference, reference]);
    // Both jumps happened during the run: its last step is a day before its first.
    const times = readJsonLines(join(runDir, 'metrics.jsonl'))
      .filter((m) => m['event'] === 'step')
      .map((m) => Date.parse(m['time'] as string));
    expect(times).toHaveLength(6);
    expect(times[0]! - times[5]!).toBeGreaterThan(20 * hour);
  });
});

describe('more lost workers than --max-restarts allows', () => {
  it('fails naming the worker and the limit; the checkpoint it left continues the run to the same weights', async () => {
    // Killed in step 5, after the checkpoint of step 3 (a worker lost while a checkpoint is written
    // ends the run whatever --max-restarts says: docs/reliability.md).
    const x = await disturbed(['--max-restarts', '0', '--checkpoint-every', '3'], {}, (pid) => process.kill(pid, 'SIGKILL'), 4);
    expect(x.r.code).toBe(1);
    expect(x.r.stderr).toMatch(/E_WORKER_FAILED: rank 1 \(pid \d+\) was killed by SIGKILL at step \d+; .*the run has replaced 0 of the 0 workers --max-restarts allows; .*tfjs-ddp train --resume RUN_DIR/);
    expect(x.summary['status']).toBe('failed');
    const resumed = await runCli(['train', '--resume', x.runDir]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(readJson(join(x.runDir, 'summary.json'))).toMatchObject({ status: 'completed', steps: 6, weights_checksum_per_rank: [reference, reference] });
  });
});

describe('a non-finite gradient', () => {
  it('is skipped on every rank, logged and counted; the run goes on', async () => {
    const x = await disturbed([], { TFJS_DDP_INJECT_NAN: '1:2' });
    expect(x.r.code, x.r.stderr).toBe(0);
    expect(x.summary).toMatchObject({ status: 'completed', steps: 6, skipped_steps: 1 });
    const sums = x.summary['weights_checksum_per_rank'] as string[];
    expect(sums[0]).toBe(sums[1]);
    const metrics = readJsonLines(join(x.runDir, 'metrics.jsonl'));
    expect(metrics.filter((m) => m['event'] === 'skipped')).toEqual([expect.objectContaining({ step: 2, in_a_row: 1, reason: 'non-finite gradient' })]);
    expect(metrics.filter((m) => m['event'] === 'step').map((m) => m['step'])).toEqual([1, 3, 4, 5, 6]);
    for (const rank of [0, 1]) {
      expect(readJsonLines(join(x.runDir, `worker-${rank}.log`)).some((l) => l['msg'] === 'the summed gradient is not finite: step skipped on every rank' && l['step'] === 2)).toBe(true);
    }
  });

  it('more of them in a row than --max-skipped-steps stop the run, suggesting a lower learning rate', async () => {
    const runDir = join(tmp('nan'), 'r');
    const r = await runCli([...common(), '--workers', '1', '--max-skipped-steps', '1', '--run-dir', runDir], { TFJS_DDP_INJECT_NAN: '0:2,0:3' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_DIVERGED: the gradient was not finite \(NaN or infinite\) in 2 steps in a row, up to step 3: training diverged; lower the learning rate \(--lr 0\.1 now; a task whose model brings its own compiled optimizer sets the rate there\)/);
  });
});

describe('silent data corruption', () => {
  const checkpoints = (runDir: string) => readdirSync(join(runDir, 'checkpoints')).filter((d) => d.startsWith('step-')).sort();

  it("a bit flip in rank 1's gradient at step 3, the run's first audit, stops the run with E_SDC naming rank 1 (rank 0 repeats its own step, rank 1 does not); no checkpoint after it", async () => {
    const x = await disturbed(['--audit-every', '3', '--checkpoint-every', '1', '--keep-checkpoints', '5'], { TFJS_DDP_INJECT_BITFLIP: '1:3' });
    expect(x.r.code, x.r.stderr).toBe(1);
    const pid = launchedPids(x.runDir)[1]!;
    expect(x.r.stderr).toMatch(new RegExp(`E_SDC: rank 1 \\(pid ${pid}, host [^)]+\\) contributed a gradient at step 3 that rank 0 \\(pid \\d+, host [^)]+\\) recomputed differently \\(chunk \\d+ of 64 sums to .* a difference of 100% of its absolute sum; tolerance 0\\.100%\\); rank 1 .*most likely its device is faulty`));
    // The first audit's self-check: the step is repeatable (rank 0's agrees), so rank 1 is faulty.
    expect(x.r.stderr).toMatch(new RegExp(`rank 1 \\(pid ${pid}, host [^)]+\\) recomputed its own first micro-batch at step 3 differently from the gradient it contributed .*; rank 0 repeated its exactly or within the tolerance, so the training step is repeatable`));
    expect(x.r.stderr).toMatch(/no checkpoint is written after this step; resume from the newest checkpoint \(step 2\) on hosts or GPUs other than those of rank 1: tfjs-ddp train --resume RUN_DIR/);
    // The checkpoint due at step 3 (--checkpoint-every 1) is not written; those before it are.
    expect(checkpoints(x.runDir)).toEqual(['step-00000001', 'step-00000002']);
    expect(x.summary).toMatchObject({ status: 'failed' });
    const sdc = readJsonLines(join(x.runDir, 'metrics.jsonl')).filter((m) => m['event'] === 'sdc');
    expect(sdc).toEqual([expect.objectContaining({ step: 3, suspects: [1] })]);
  });

  it("a bit flip in rank 1's gradient at a later audit (step 3 of --audit-every 1, no self-check) is named by the cross-checks", async () => {
    const x = await disturbed(['--audit-every', '1'], { TFJS_DDP_INJECT_BITFLIP: '1:3' });
    expect(x.r.code, x.r.stderr).toBe(1);
    expect(x.r.stderr).toMatch(/E_SDC: rank 1 \(pid \d+, host [^)]+\) contributed a gradient at step 3 that rank 0 .*recomputed differently .*; rank 1 .*most likely its device is faulty, while rank 1's recomputation of rank 0's micro-batch agreed/);
    expect(x.r.stderr).not.toMatch(/recomputed its own first micro-batch/);
    const metrics = readJsonLines(join(x.runDir, 'metrics.jsonl'));
    // Steps 1 and 2 passed; only the first audit carried the self-checks.
    expect(metrics.filter((m) => m['event'] === 'audit').map((a) => [a['step'], a['self_checks'] !== undefined])).toEqual([[1, true], [2, false]]);
    expect(metrics.filter((m) => m['event'] === 'sdc')).toEqual([expect.objectContaining({ step: 3, suspects: [1] })]);
  });

  it('ranks whose weights differ are caught before the next checkpoint, and nothing is written', async () => {
    const x = await disturbed(['--audit-every', '0', '--checkpoint-every', '2'], { TFJS_DDP_INJECT_WEIGHT_BITFLIP: '1:3' });
    expect(x.r.code, x.r.stderr).toBe(1);
    expect(x.r.stderr).toMatch(/E_SDC: the ranks' weights differ before the checkpoint at step 4 \(rank 0 [0-9a-f]{16}, rank 1 [0-9a-f]{16}\): no majority, so which rank is wrong cannot be told; nothing was written/);
    expect(checkpoints(x.runDir)).toEqual(['step-00000002']);
  });

  it('a clean run audited at every step ends with the weights of an undisturbed run (the default audits none of its 6 steps)', async () => {
    const x = await disturbed(['--audit-every', '1'], {});
    expect(x.r.code, x.r.stderr).toBe(0);
    expect(x.summary['weights_checksum_per_rank']).toEqual([reference, reference]);
    const metrics = readJsonLines(join(x.runDir, 'metrics.jsonl'));
    const audits = metrics.filter((m) => m['event'] === 'audit');
    expect(audits.map((a) => a['step'])).toEqual([1, 2, 3, 4, 5, 6]);
    // Both cross-checks each time, within the tolerance (on one backend: identical).
    for (const a of audits) expect(a['checks']).toEqual([expect.objectContaining({ checker: 0, owner: 1 }), expect.objectContaining({ checker: 1, owner: 0 })]);
    for (const a of audits) for (const c of a['checks'] as { relative: number }[]) expect(c.relative).toBeLessThan(1e-3);
    // The first audit also had each rank repeat its own step (the self-check); the later ones did not.
    expect(audits[0]!['self_checks']).toEqual([expect.objectContaining({ rank: 0 }), expect.objectContaining({ rank: 1 })]);
    for (const c of audits[0]!['self_checks'] as { relative: number }[]) expect(c.relative).toBeLessThan(1e-3);
    expect(audits.slice(1).every((a) => a['self_checks'] === undefined)).toBe(true);
    const timings = metrics.filter((m) => m['event'] === 'step').flatMap((m) => m['timings'] as Record<string, unknown>[]);
    expect(timings.every((t) => typeof t['audit_ms'] === 'number')).toBe(true);
  });
});
