// `tfjs-ddp coordinator --resume RUN_DIR`: a multi-node run (coordinator on tcp://, workers started
// apart from it) that stopped goes on from its newest checkpoint with the workers that join the new
// coordinator, with the per-step losses and weights of a run that never stopped, bit for bit; also
// when it is restarted at once on its port while the old workers still run and reconnect. On
// loopback, so no key. SGD with momentum: a checkpoint holds the momentum slots, which the new
// workers must get back.
import { join } from 'node:path';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './support/ports';
import { readJson, readJsonLines, runCli, startCli, tmp } from './support/spawn-cli';

// One test here kills a coordinator after a step line: its runs take the wasm kernels' steps (with
// the native kernels a short run can end before the test acts).
process.env['TFJS_DDP_CPU_KERNELS'] = 'wasm';

let data: string;

beforeAll(async () => {
  data = tmp('data');
  // 64 samples, global batch 16: 4 steps an epoch.
  await writeSyntheticFashionMnist(data, { train: 64, test: 16, seed: 3 });
});

const settings = () => ['--data-dir', data, '--verify-data', 'false', '--resize', '32', '--backend', 'wasm', '--batch-size', '16', '--micro-batch', '8', '--epochs', '2', '--momentum', '0.9'];
const steps = (runDir: string) => readJsonLines(join(runDir, 'metrics.jsonl')).filter((m) => m['event'] === 'step');

/** A coordinator on a fresh loopback port with `workers` workers joining it; resolves when all exit. */
async function coordinate(args: string[], workers: number): Promise<{ code: number | null; stderr: string }> {
  const address = `tcp://127.0.0.1:${await freePort()}`;
  const coordinator = startCli(['coordinator', '--listen', address, '--world-size', String(workers), ...args]);
  const ws = Array.from({ length: workers }, (_, rank) => startCli(['worker', '--join', address], { RANK: String(rank) }));
  const c = await coordinator.exit;
  const w = await Promise.all(ws.map((x) => x.exit));
  expect(w.map((x) => x.code), w.map((x) => x.stderr).join('\n')).toEqual(w.map(() => 0));
  return c;
}

describe('coordinator --resume', () => {
  it('continues a stopped multi-node run with new workers, with the losses and weights of an unstopped run', async () => {
    const reference = join(tmp('reference'), 'r');
    const u = await runCli(['train', ...settings(), '--workers', '2', '--max-steps', '6', '--run-dir', reference]);
    expect(u.code, u.stderr).toBe(0);

    const runDir = join(tmp('stopped'), 'r');
    const first = await coordinate([...settings(), '--max-steps', '3', '--run-dir', runDir], 2);
    expect(first.code, first.stderr).toBe(0);
    const second = await coordinate(['--resume', runDir, '--max-steps', '6'], 2);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/done: 6 steps/);

    expect(steps(runDir).map((m) => m['step'])).toEqual([1, 2, 3, 4, 5, 6]);
    expect(steps(runDir).map((m) => m['loss'])).toEqual(steps(reference).map((m) => m['loss']));
    const resumed = readJsonLines(join(runDir, 'metrics.jsonl')).filter((m) => m['event'] === 'resume');
    expect(resumed).toEqual([expect.objectContaining({ step: 3, epoch: 1, batch_in_epoch: 3, workers: 2, previous_workers: 2 })]);
    const [a, b] = [readJson(join(reference, 'summary.json')), readJson(join(runDir, 'summary.json'))];
    expect(b).toMatchObject({ status: 'completed', steps: 6, workers: 2 });
    expect(b['weights_checksum_per_rank']).toEqual(a['weights_checksum_per_rank']);
  }, 300_000);

  it('a coordinator killed and restarted at once on its port, its old workers still running, takes new workers and ignores the old ones', async () => {
    const reference = join(tmp('reference'), 'r');
    const u = await runCli(['train', ...settings(), '--workers', '2', '--max-steps', '6', '--run-dir', reference]);
    expect(u.code, u.stderr).toBe(0);

    const address = `tcp://127.0.0.1:${await freePort()}`;
    const runDir = join(tmp('restarted'), 'r');
    const first = startCli(['coordinator', '--listen', address, '--world-size', '2', ...settings(), '--max-steps', '6', '--checkpoint-every', '2', '--run-dir', runDir]);
    const old = [0, 1].map((rank) => startCli(['worker', '--join', address], { RANK: String(rank) }));
    await first.waitForLine(/"type":"step".*"step":3,/);
    first.child.kill('SIGKILL');
    await first.exit;
    // At once, on the same port: the old workers' sockets reconnect to it and say what they had to say.
    const second = startCli(['coordinator', '--resume', runDir, '--listen', address, '--world-size', '2', '--max-steps', '6']);
    const fresh = [0, 1].map((rank) => startCli(['worker', '--join', address], { RANK: String(rank) }));
    const c = await second.exit;
    expect(c.code, c.stderr).toBe(0);
    expect(c.stderr).toMatch(/done: 6 steps/);
    expect((await Promise.all(fresh.map((w) => w.exit))).map((w) => w.code)).toEqual([0, 0]);
    expect(readJson(join(runDir, 'summary.json'))['weights_checksum_per_rank']).toEqual(readJson(join(reference, 'summary.json'))['weights_checksum_per_rank']);
    // The old workers leave by themselves: told to stop by the new coordinator once they report to
    // it (a step they finish, or, idle, where they are after 6 s without a ping: it drops what they
    // send, logs it and answers once with a stop), else after 30 s without their coordinator's
    // pings (the new coordinator may be gone before they speak).
    const gone = await Promise.all(old.map((w) => w.exit));
    for (const w of gone) {
      expect(w.signal).toBeNull();
      if (w.code === 0) expect(w.stderr).toMatch(/belongs to an earlier run on this address/);
      else expect(w.stderr).toMatch(/E_TIMEOUT: the coordinator has not been heard from for \d+ s/);
    }
  }, 300_000);

  it('refuses --resume with --config before it listens', async () => {
    const r = await runCli(['coordinator', '--listen', 'tcp://127.0.0.1:1', '--world-size', '2', '--resume', tmp('none'), '--config', 'x.json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--resume and --config cannot be combined/);
  });
});
