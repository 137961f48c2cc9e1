// Multi-node mode with real network separation: the coordinator listens on a bridge in this
// namespace, and each worker runs in its own network namespace (its own interface and address, as
// another host would), launched the way torchrun or srun would: MASTER_ADDR, MASTER_PORT, RANK,
// WORLD_SIZE, LOCAL_RANK, and the run key in TFJS_DDP_KEY_FILE (CURVE on every socket: these are
// not loopback addresses). Needs root and iproute2 (installed by .ci/run); skipped otherwise.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, readJson, readJsonLines, runCli, startCli, tmp } from './support/spawn-cli';

const canNetns = process.getuid?.() === 0 && spawnSync('ip', ['netns', 'list']).status === 0;
const tag = `td${process.pid % 100000}`; // interface names are limited to 15 characters
const BRIDGE = `${tag}br`;
const SUBNET = '10.231.0';
const nsName = (i: number) => `${tag}n${i}`;

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

describe.runIf(canNetns)('multi-node: workers in their own network namespaces join a tcp coordinator', () => {
  let data: string;
  let keyFile: string;

  beforeAll(async () => {
    keyFile = join(tmp('key'), 'run.key');
    expect((await runCli(['keygen', '--out', keyFile])).code).toBe(0);
    data = tmp('data');
    await writeSyntheticFashionMnist(data, { train: 120, test: 40, seed: 2 });
    ip('link', 'add', BRIDGE, 'type', 'bridge');
    ip('addr', 'add', `${SUBNET}.1/24`, 'dev', BRIDGE);
    ip('link', 'set', BRIDGE, 'up');
    for (const i of [1, 2]) {
      ip('netns', 'add', nsName(i));
      ip('link', 'add', `${tag}a${i}`, 'type', 'veth', 'peer', 'name', `${tag}b${i}`);
      ip('link', 'set', `${tag}b${i}`, 'netns', nsName(i));
      ip('link', 'set', `${tag}a${i}`, 'master', BRIDGE);
      ip('link', 'set', `${tag}a${i}`, 'up');
      ip('-n', nsName(i), 'addr', 'add', `${SUBNET}.${1 + i}/24`, 'dev', `${tag}b${i}`);
      ip('-n', nsName(i), 'link', 'set', `${tag}b${i}`, 'up');
      ip('-n', nsName(i), 'link', 'set', 'lo', 'up');
    }
  });

  afterAll(() => {
    for (const i of [1, 2]) spawnSync('ip', ['netns', 'del', nsName(i)]);
    spawnSync('ip', ['link', 'del', BRIDGE]);
  });

  it('trains to identical weights on both ranks, each receiving ring traffic on its own address', async () => {
    const port = 20000 + (process.pid % 20000);
    const runDir = join(tmp('mn'), 'r');
    const coordinator = startCli([
      'coordinator', '--listen', `tcp://${SUBNET}.1:${port}`, '--world-size', '2',
      '--data-dir', data, '--verify-data', 'false', '--resize', '32', '--backend', 'wasm',
      '--batch-size', '20', '--epochs', '1', '--max-steps', '3', '--join-timeout', '120', '--run-dir', runDir,
    ], { TFJS_DDP_KEY_FILE: keyFile });
    const workers = [1, 0].map((rank) =>
      spawnWorker(nsName(rank + 1), { MASTER_ADDR: `${SUBNET}.1`, MASTER_PORT: String(port), RANK: String(rank), WORLD_SIZE: '2', LOCAL_RANK: '0', TFJS_DDP_KEY_FILE: keyFile }),
    );
    const c = await coordinator.exit;
    const w = await Promise.all(workers);
    expect(c.stderr).toMatch(/done: 3 steps/);
    expect(c.code).toBe(0);
    expect(w.map((x) => x.code)).toEqual([0, 0]);
    const summary = readJson(join(runDir, 'summary.json'));
    expect(summary['workers']).toBe(2);
    expect(summary['security']).toBe('curve');
    expect(summary['rejected_connections']).toBe(0);
    const sums = summary['weights_checksum_per_rank'] as string[];
    expect(sums[0]).toBe(sums[1]);
    const rendezvous = readJsonLines(join(runDir, 'train.log')).find((l) => l['msg'] === 'rendezvous done')!;
    const addrs = (rendezvous['workers'] as { rank: number; dataAddress: string }[]).map((x) => x.dataAddress);
    expect(addrs[0]).toMatch(new RegExp(`^tcp://${SUBNET.replace(/\./g, '\\.')}\\.2:\\d+$`));
    expect(addrs[1]).toMatch(new RegExp(`^tcp://${SUBNET.replace(/\./g, '\\.')}\\.3:\\d+$`));
  });
});

function spawnWorker(ns: string, env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, BIN, 'worker'], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}
