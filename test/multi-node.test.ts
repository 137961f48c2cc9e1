// Multi-node mode with real network separation: the coordinator listens on a bridge in this
// namespace, and each worker runs in its own network namespace (its own interface and address, as
// another host would), launched the way torchrun or srun would: MASTER_ADDR, MASTER_PORT, RANK,
// WORLD_SIZE, LOCAL_RANK, and the run key in TFJS_DDP_KEY_FILE (CURVE on every socket: these are
// not loopback addresses). tcpdump captures the run's traffic: with the key, neither the model's
// bytes nor a control message can be read on the wire; an --insecure run shows both (the control).
// Needs root, iproute2 and tcpdump (installed by .ci/run; under CI=true a missing tcpdump fails);
// skipped otherwise, saying why.
import { spawn, spawnSync } from 'node:child_process';
import { makeHosts, spawnWorker, type Hosts } from './support/netns';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, readJsonLines, runCli, startCli, tmp } from './support/spawn-cli';

const hasTcpdump = spawnSync('tcpdump', ['--version']).status === 0;
const canNetns = process.getuid?.() === 0 && spawnSync('ip', ['netns', 'list']).status === 0 && (hasTcpdump || process.env['CI'] === 'true');
if (!canNetns) console.log('multi-node.test: skipped: it needs root, iproute2 (ip netns) and tcpdump');
const tag = `td${process.pid % 100000}`; // interface names are limited to 15 characters
const SUBNET = '10.231.0';

describe.runIf(canNetns)('multi-node: workers in their own network namespaces join a tcp coordinator', () => {
  let data: string;
  let keyFile: string;
  let hosts: Hosts;

  beforeAll(async () => {
    keyFile = join(tmp('key'), 'run.key');
    expect((await runCli(['keygen', '--out', keyFile])).code).toBe(0);
    data = tmp('data');
    await writeSyntheticFashionMnist(data, { train: 120, test: 40, seed: 2 });
    hosts = makeHosts(tag, SUBNET, 2);
  });

  afterAll(() => hosts?.remove());

  /** A 2-worker run over the bridge, its tcp traffic captured (tcpdump on every interface here). */
  async function twoNodeRun(label: string, security: string[]): Promise<{ runDir: string; wire: Buffer; coordinator: { code: number | null; stderr: string } }> {
    const port = 20000 + ((process.pid + label.length) % 20000);
    const runDir = join(tmp(label), 'r');
    const capture = join(tmp(`${label}-wire`), 'wire.pcap');
    const dump = await startCapture(capture);
    const env: Record<string, string> = security.length === 0 ? { TFJS_DDP_KEY_FILE: keyFile } : {};
    const coordinator = startCli([
      'coordinator', '--listen', `tcp://${SUBNET}.1:${port}`, '--world-size', '2',
      '--data-dir', data, '--verify-data', 'false', '--resize', '32', '--backend', 'wasm',
      '--batch-size', '20', '--epochs', '1', '--max-steps', '3', '--join-timeout', '120', '--run-dir', runDir, ...security,
    ], env);
    const workers = [1, 0].map((rank) =>
      spawnWorker(hosts.ns(rank + 1), { MASTER_ADDR: `${SUBNET}.1`, MASTER_PORT: String(port), RANK: String(rank), WORLD_SIZE: '2', LOCAL_RANK: '0', ...env }, security),
    );
    const c = await coordinator.exit;
    const w = await Promise.all(workers);
    const { dropped } = await dump.stop();
    expect(dropped, 'tcpdump dropped packets, so the capture is not the whole run').toBe(0);
    expect(c.stderr).toMatch(/done: 3 steps/);
    expect(c.code).toBe(0);
    expect(w.map((x) => x.code)).toEqual([0, 0]);
    return { runDir, wire: readFileSync(capture), coordinator: c };
  }

  /** How many of 64 windows of 32 bytes spread over `file` occur in `wire`. */
  function windowsOnTheWire(file: Buffer, wire: Buffer): number {
    let found = 0;
    for (let i = 0; i < 64; i++) {
      const at = Math.floor(((file.length - 32) * i) / 63);
      if (wire.includes(file.subarray(at, at + 32))) found++;
    }
    return found;
  }

  it('trains to identical weights on both ranks, each receiving ring traffic on its own address, and no plaintext on the wire', async () => {
    const { runDir, wire } = await twoNodeRun('mn', []);
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
    // The wire: the model's weights went from rank 0 to the coordinator and gradients around the
    // ring (more bytes than the weights file, so the capture saw the run), yet none of the weights'
    // bytes and no control message (JSON, `{"v":`) can be read on it.
    const weights = readFileSync(join(runDir, 'model', 'weights.bin'));
    expect(wire.length).toBeGreaterThan(weights.length);
    expect(windowsOnTheWire(weights, wire)).toBe(0);
    expect(wire.includes('{"v":')).toBe(false);
  });

  it('the same capture of an --insecure run reads its control messages and model weights (the check above can fail)', async () => {
    const { runDir, wire, coordinator } = await twoNodeRun('mn-insecure', ['--insecure']);
    expect(coordinator.stderr).toMatch(/--insecure: .* without CURVE/);
    expect(readJson(join(runDir, 'summary.json'))['security']).not.toBe('curve');
    const weights = readFileSync(join(runDir, 'model', 'weights.bin'));
    expect(windowsOnTheWire(weights, wire)).toBeGreaterThan(48);
    expect(wire.includes('{"v":')).toBe(true);
  });
});

/**
 * tcpdump of the test's subnet on every interface of this namespace (the bridge's veth ports too),
 * written to `file`. A 64 MiB kernel buffer keeps a busy 2-core machine from dropping packets, and
 * `stop` waits for the file to stop growing before it interrupts tcpdump: packets still in the
 * kernel's buffer at SIGINT are never written, and the run's last message (the model going to the
 * coordinator) is exactly what the checks read. It resolves with the packets the kernel dropped.
 */
async function startCapture(file: string): Promise<{ stop: () => Promise<{ dropped: number }> }> {
  const child = spawn('tcpdump', ['-i', 'any', '-U', '-B', '65536', '-s', '0', '-w', file, 'net', `${SUBNET}.0/24`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (/listening on/.test(err)) resolve();
    });
    child.on('error', (e) => reject(new Error(`tcpdump could not start (${e.message}): install it (apt-get install tcpdump)`)));
    child.on('close', (code) => reject(new Error(`tcpdump exited (${String(code)}) before capturing: ${err}`)));
  });
  return {
    stop: async () => {
      await settled(file);
      return new Promise((resolve) => {
        child.removeAllListeners('close');
        child.on('close', () => resolve({ dropped: Number(/(\d+) packets? dropped by kernel/.exec(err)?.[1] ?? 0) }));
        child.kill('SIGINT');
      });
    },
  };
}

/** Resolves once `file` has kept its size for 600 ms (or after 10 s). */
async function settled(file: string): Promise<void> {
  let last = -1;
  let still = 0;
  for (let waited = 0; waited < 10_000 && still < 3; waited += 200) {
    await new Promise((r) => setTimeout(r, 200));
    const size = existsSync(file) ? statSync(file).size : 0;
    still = size === last ? still + 1 : 0;
    last = size;
  }
}
