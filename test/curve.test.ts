// "Nobody without the key joins": a 2-worker run with the run key (CURVE on every socket, control and
// data plane, native or zeromq.js) on loopback TCP, once undisturbed and once while a third process
// without the key connects to the coordinator's and both workers' addresses and sends garbage. The
// attacked run ends with the same weights, and summary.json counts the refused connections per process.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, readJson, readJsonLines, runCli, startCli, tmp } from './support/spawn-cli';

let data: string;
let keyFile: string;
let port = 21000 + (process.pid % 15000);

beforeAll(async () => {
  data = tmp('data');
  await writeSyntheticFashionMnist(data, { train: 240, test: 40, seed: 4 });
  keyFile = join(tmp('key'), 'run.key');
  const k = await runCli(['keygen', '--out', keyFile]);
  expect(k.code).toBe(0);
});

interface RunResult {
  summary: Record<string, unknown>;
  intruder: string | null;
}

/** One coordinator and two workers on 127.0.0.1, all with the key file; `attack` runs the intruder after the first step. */
async function trainWithKey(attack: boolean): Promise<RunResult> {
  const listen = `tcp://127.0.0.1:${port++}`;
  const runDir = join(tmp('curve'), 'r');
  const env = { TFJS_DDP_KEY_FILE: keyFile };
  const coordinator = startCli(
    ['coordinator', '--listen', listen, '--world-size', '2', '--data-dir', data, '--verify-data', 'false', '--resize', '32', '--backend', 'wasm', '--batch-size', '20', '--micro-batch', '10', '--epochs', '1', '--max-steps', '8', '--join-timeout', '120', '--run-dir', runDir],
    env,
  );
  const workers = [0, 1].map((rank) => startCli(['worker', '--join', listen], { ...env, RANK: String(rank), WORLD_SIZE: '2', LOCAL_RANK: String(rank) }));
  let intruder: string | null = null;
  if (attack) {
    await coordinator.waitForLine(/"type":"step"/);
    const rendezvous = readJsonLines(join(runDir, 'train.log')).find((l) => l['msg'] === 'rendezvous done')!;
    const dataAddresses = (rendezvous['workers'] as { dataAddress: string }[]).map((w) => w.dataAddress);
    const publicKey = (JSON.parse(readFileSync(keyFile, 'utf8')) as { public_key: string }).public_key;
    intruder = await runIntruder([publicKey, listen, ...dataAddresses]);
  }
  const c = await coordinator.exit;
  const w = await Promise.all(workers.map((x) => x.exit));
  expect(c.stderr).toMatch(/done: 8 steps/);
  expect(c.code).toBe(0);
  expect(w.map((x) => x.code)).toEqual([0, 0]);
  return { summary: readJson(join(runDir, 'summary.json')), intruder };
}

function runIntruder(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/support/intruder.ts'), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`intruder exited with ${code}`))));
  });
}

describe('CURVE: nobody without the key joins', () => {
  it('a run attacked by a process without the key ends with the same weights, and counts every refused connection', async () => {
    const quiet = await trainWithKey(false);
    const attacked = await trainWithKey(true);
    const figures = (r: RunResult) => JSON.stringify({ rejected_connections: r.summary['rejected_connections'], rejected_frames: r.summary['rejected_frames'], per_process: r.summary['rejected_connections_per_process'], checksums: r.summary['weights_checksum_per_rank'] });
    process.stdout.write(`undisturbed ${figures(quiet)}\nattacked ${figures(attacked)}\n`);
    expect(attacked.intruder).toContain('"attempts":7');
    expect(quiet.summary['security']).toBe('curve');
    expect(attacked.summary['security']).toBe('curve');
    expect(attacked.summary['weights_checksum_per_rank']).toEqual(quiet.summary['weights_checksum_per_rank']);
    expect(attacked.summary['train_loss']).toBe(quiet.summary['train_loss']);
    // Undisturbed: nothing refused. Attacked: each of the three processes refused at least the
    // no-CURVE client, the client with its own key file, the ZAP-refused one and the raw socket.
    expect(quiet.summary['rejected_connections']).toBe(0);
    expect(quiet.summary['rejected_frames']).toBe(0);
    const perProcess = attacked.summary['rejected_connections_per_process'] as { role: string; rank: number | null; connections: number }[];
    expect(perProcess.map((p) => [p.role, p.rank])).toEqual([['coordinator', null], ['worker', 0], ['worker', 1]]);
    for (const p of perProcess) expect(p.connections, `${p.role} ${p.rank}`).toBeGreaterThanOrEqual(4);
    expect(attacked.summary['rejected_connections']).toBe(perProcess.reduce((a, p) => a + p.connections, 0));
    // No frame of the intruder reached tfjs-ddp: libzmq dropped them all before the handshake.
    expect(attacked.summary['rejected_frames']).toBe(0);
  });

  it('a worker with another key file is refused with a message naming the key file, and exits 2', async () => {
    const listen = `tcp://127.0.0.1:${port++}`;
    const otherKey = join(tmp('key'), 'other.key');
    expect((await runCli(['keygen', '--out', otherKey])).code).toBe(0);
    const coordinator = startCli(['coordinator', '--listen', listen, '--world-size', '1', '--data-dir', data, '--verify-data', 'false', '--resize', '32', '--backend', 'wasm', '--join-timeout', '8', '--run-dir', join(tmp('curve'), 'r')], { TFJS_DDP_KEY_FILE: keyFile });
    const worker = await runCli(['worker', '--join', listen, '--key-file', otherKey]);
    expect(worker.stderr).toMatch(/handshake with tcp:\/\/127\.0\.0\.1:\d+ failed 3 times: it does not accept this process's key: it has another key file, or none; give the coordinator and every worker the same key file/);
    expect(worker.code).toBe(2);
    const c = await coordinator.exit;
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/E_TIMEOUT/);
  });
});
