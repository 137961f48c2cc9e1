// "Nobody without the key joins": a 2-worker run with the run key (CURVE on every socket, control and
// data plane, native or zeromq.js) on loopback TCP, once undisturbed and once while a third process
// without the key attacks it twice: the coordinator during rendezvous (before any worker has joined),
// then the coordinator's and both workers' addresses while the run trains; each time it connects and
// sends garbage. The attacker sees no handshake succeed and every kind of attempt refused; the attacked
// run ends with the same weights, and summary.json counts the refused connections per process. Both
// runs take slow steps (wasm kernels, 96×96) so that the second attack meets a live run.
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

interface Seen {
  address: string;
  connected: number;
  handshakes: number;
  refused: number;
  raw_closed: boolean;
}

interface RunResult {
  summary: Record<string, unknown>;
  /** What the intruder saw: during rendezvous, then while the run trained. */
  attacks: Seen[][];
}

/** Waits for a train.log line with message `msg` (the coordinator logs 'waiting for workers' once it listens). */
async function waitForLog(runDir: string, msg: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      if (readJsonLines(join(runDir, 'train.log')).some((l) => l['msg'] === msg)) return;
    } catch {
      // not written yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no '${msg}' in ${runDir}/train.log after 60 s`);
}

/** One coordinator and two workers on 127.0.0.1, all with the key file; `attack` runs the intruder during rendezvous and after the first step. */
async function trainWithKey(attack: boolean): Promise<RunResult> {
  const listen = `tcp://127.0.0.1:${port++}`;
  const runDir = join(tmp('curve'), 'r');
  const env = { TFJS_DDP_KEY_FILE: keyFile, TFJS_DDP_CPU_KERNELS: 'wasm' };
  const coordinator = startCli(
    ['coordinator', '--listen', listen, '--world-size', '2', '--data-dir', data, '--verify-data', 'false', '--resize', '96', '--backend', 'wasm', '--batch-size', '20', '--micro-batch', '10', '--epochs', '1', '--max-steps', '8', '--join-timeout', '120', '--run-dir', runDir],
    env,
  );
  const publicKey = (JSON.parse(readFileSync(keyFile, 'utf8')) as { public_key: string }).public_key;
  const attacks: Seen[][] = [];
  if (attack) {
    await waitForLog(runDir, 'waiting for workers');
    attacks.push(await runIntruder([publicKey, listen]));
  }
  const workers = [0, 1].map((rank) => startCli(['worker', '--join', listen], { ...env, RANK: String(rank), WORLD_SIZE: '2', LOCAL_RANK: String(rank) }));
  if (attack) {
    await coordinator.waitForLine(/"type":"step"/);
    const rendezvous = readJsonLines(join(runDir, 'train.log')).find((l) => l['msg'] === 'rendezvous done')!;
    const dataAddresses = (rendezvous['workers'] as { dataAddress: string }[]).map((w) => w.dataAddress);
    attacks.push(await runIntruder([publicKey, listen, ...dataAddresses]));
  }
  const c = await coordinator.exit;
  const w = await Promise.all(workers.map((x) => x.exit));
  expect(c.stderr).toMatch(/done: 8 steps/);
  expect(c.code).toBe(0);
  expect(w.map((x) => x.code)).toEqual([0, 0]);
  return { summary: readJson(join(runDir, 'summary.json')), attacks };
}

function runIntruder(args: string[]): Promise<Seen[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/support/intruder.ts'), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => (code === 0 ? resolve((JSON.parse(out) as { addresses: Seen[] }).addresses) : reject(new Error(`intruder exited with ${code}`))));
  });
}

describe('CURVE: nobody without the key joins', () => {
  it('a run attacked by a process without the key ends with the same weights, and counts every refused connection', async () => {
    const quiet = await trainWithKey(false);
    const attacked = await trainWithKey(true);
    const figures = (r: RunResult) => JSON.stringify({ rejected_connections: r.summary['rejected_connections'], rejected_frames: r.summary['rejected_frames'], per_process: r.summary['rejected_connections_per_process'], checksums: r.summary['weights_checksum_per_rank'] });
    process.stdout.write(`undisturbed ${figures(quiet)}\nattacked ${figures(attacked)}\nintruder ${JSON.stringify(attacked.attacks)}\n`);
    // From the attacker's side: the coordinator alone during rendezvous, then all three addresses;
    // every one of its 6 ZeroMQ clients per address connected and none completed a handshake.
    expect(attacked.attacks.map((a) => a.length)).toEqual([1, 3]);
    for (const seen of attacked.attacks.flat()) {
      expect(seen.connected, seen.address).toBeGreaterThanOrEqual(6);
      expect(seen.handshakes, seen.address).toBe(0);
      expect(seen.refused, seen.address).toBeGreaterThanOrEqual(6);
    }
    expect(quiet.summary['security']).toBe('curve');
    expect(attacked.summary['security']).toBe('curve');
    expect(attacked.summary['weights_checksum_per_rank']).toEqual(quiet.summary['weights_checksum_per_rank']);
    expect(attacked.summary['train_loss']).toBe(quiet.summary['train_loss']);
    // Undisturbed: nothing refused. Attacked: each of the three processes refused at least the
    // no-CURVE client, the client with its own key file, the ZAP-refused one and the raw socket of
    // every attack it met (the coordinator two, during rendezvous and while training).
    expect(quiet.summary['rejected_connections']).toBe(0);
    expect(quiet.summary['rejected_frames']).toBe(0);
    const perProcess = attacked.summary['rejected_connections_per_process'] as { role: string; rank: number | null; connections: number }[];
    expect(perProcess.map((p) => [p.role, p.rank])).toEqual([['coordinator', null], ['worker', 0], ['worker', 1]]);
    // (A worker's count is 0 if the run ended before the second attack reached it.)
    for (const p of perProcess) expect(p.connections, `${p.role} ${p.rank}`).toBeGreaterThanOrEqual(p.role === 'coordinator' ? 8 : 4);
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
