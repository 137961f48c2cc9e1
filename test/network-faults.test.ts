// Faults of the network between two live workers, each in its own network namespace (as two hosts):
// a ring link blackholed for a while, one blackholed for good, and a lossy, slow link. The link watch
// (worker link-watch.ts, core tcp-links.ts) finds a failed link in seconds; the coordinator rebuilds
// the ring and replays the step, or ends the run naming the link (E_NETWORK); loss and delay only
// slow the run. Needs root and iproute2 (tc for the lossy link); skipped otherwise, saying why.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canNetns, makeHosts, spawnWorker, type Hosts } from './support/netns';
import { readJson, readJsonLines, runCli, startCli, tmp } from './support/spawn-cli';

const hasTc = spawnSync('tc', ['-V']).status === 0;
const can = canNetns();
if (!can) console.log('network-faults.test: skipped: it needs root and iproute2 (ip netns)');

describe.runIf(can)('network faults between two workers on their own hosts', () => {
  let hosts: Hosts;
  let data: string;
  let keyFile: string;
  let port = 21000 + (process.pid % 9000);

  beforeAll(async () => {
    keyFile = join(tmp('nf-key'), 'run.key');
    expect((await runCli(['keygen', '--out', keyFile])).code).toBe(0);
    data = tmp('nf-data');
    await writeSyntheticFashionMnist(data, { train: 160, test: 40, seed: 3 });
    hosts = makeHosts(`tf${process.pid % 10000}`, '10.232.0', 2);
  });

  afterAll(() => hosts?.remove());

  /** A 2-worker run over the bridge; `during` acts on it while it runs. */
  async function run(
    label: string,
    steps: number,
    during: (runDir: string) => Promise<void> = async () => undefined,
  ) {
    const runDir = join(tmp(label), 'r');
    const env = { TFJS_DDP_KEY_FILE: keyFile, TFJS_DDP_CPU_KERNELS: 'wasm' };
    const p = port++;
    const coordinator = startCli(
      [
        'coordinator',
        '--listen',
        `tcp://${hosts.coordinator}:${p}`,
        '--world-size',
        '2',
        '--data-dir',
        data,
        '--verify-data',
        'false',
        '--resize',
        '32',
        '--backend',
        'wasm',
        '--batch-size',
        '20',
        '--epochs',
        '1',
        '--max-steps',
        String(steps),
        '--join-timeout',
        '120',
        '--run-dir',
        runDir,
      ],
      env,
    );
    const workers = [1, 0].map((rank) =>
      spawnWorker(hosts.ns(rank + 1), {
        MASTER_ADDR: hosts.coordinator,
        MASTER_PORT: String(p),
        RANK: String(rank),
        WORLD_SIZE: '2',
        LOCAL_RANK: '0',
        ...env,
      }),
    );
    await during(runDir);
    const c = await coordinator.exit;
    const cAt = Date.now();
    const w = await Promise.all(workers);
    return { runDir, c, w, cAt, wAt: Date.now() };
  }

  /** Resolves when `file` of the run directory has a JSON line that `hit` accepts (polled). */
  async function line(
    runDir: string,
    file: string,
    hit: (l: Record<string, unknown>) => boolean,
    timeoutMs: number,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let lines: Record<string, unknown>[] = [];
      try {
        lines = readJsonLines(join(runDir, file));
      } catch {
        // not there yet
      }
      if (lines.some(hit)) return;
      if (Date.now() > deadline) throw new Error(`no such line in ${runDir}/${file} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const stepDone = (n: number) => (l: Record<string, unknown>) =>
    l['event'] === 'step' && Number(l['step']) >= n;
  const linkFailed = (l: Record<string, unknown>) =>
    /ring link failed between two live ranks/.test(String(l['msg']));

  const sums = (d: string) => readJson(join(d, 'summary.json'))['weights_checksum_per_rank'] as string[];
  let cleanSums: string[] = [];
  const blackhole = (on: boolean) =>
    spawnSync('ip', ['-n', hosts.ns(1), 'route', on ? 'add' : 'del', 'blackhole', `${hosts.address(2)}/32`]);

  it('finds a blackholed ring link in seconds, rebuilds the ring once it is back, and ends on the weights of an undisturbed run', async () => {
    const clean = await run('nf-clean', 8);
    expect(clean.c.code).toBe(0);
    let detectedS = 0;
    const cut = await run('nf-cut', 8, async (runDir) => {
      await line(runDir, 'metrics.jsonl', stepDone(2), 120_000);
      const t0 = Date.now();
      blackhole(true);
      try {
        await line(runDir, 'train.log', linkFailed, 60_000);
        detectedS = (Date.now() - t0) / 1000;
      } finally {
        blackhole(false);
      }
    });
    expect(cut.c.stderr).toMatch(/done: 8 steps/);
    expect(cut.c.code).toBe(0);
    expect(cut.w.map((x) => x.code)).toEqual([0, 0]);
    console.log(`network-faults.test: blackholed link named ${detectedS.toFixed(1)} s after the route went`);
    expect(detectedS).toBeLessThan(20);
    const link = readJsonLines(join(cut.runDir, 'metrics.jsonl')).filter((e) => e['event'] === 'link');
    expect(link.length).toBeGreaterThan(0);
    expect(link[0]).toMatchObject({
      from: expect.any(Number),
      to: expect.any(Number),
      cause: expect.stringMatching(/ring link/),
    });
    expect(sums(cut.runDir)).toEqual(sums(clean.runDir));
    cleanSums = sums(clean.runDir);
  });

  it('survives its ring connections being reset again and again (ss -K), with the weights of an undisturbed run', async () => {
    let resets = 0;
    const r = await run('nf-reset', 8, async (runDir) => {
      await line(runDir, 'metrics.jsonl', stepDone(2), 120_000);
      for (let k = 0; k < 12; k++) {
        const x = spawnSync('ip', ['netns', 'exec', hosts.ns(1), 'ss', '-K', 'dst', hosts.address(2)], {
          encoding: 'utf8',
        });
        if (/ESTAB/.test(x.stdout)) resets++;
        await new Promise((res) => setTimeout(res, 250));
      }
    });
    expect(r.c.stderr).toMatch(/done: 8 steps/);
    expect(r.c.code).toBe(0);
    expect(resets).toBeGreaterThan(0);
    const links = readJsonLines(join(r.runDir, 'metrics.jsonl')).filter((e) => e['event'] === 'link').length;
    console.log(
      `network-faults.test: ${resets} resets, ${links} of them during an all-reduce (the ring rebuilt)`,
    );
    expect(sums(r.runDir)).toEqual(cleanSums);
  });

  it('ends the run naming the link when it stays blackholed', async () => {
    let t0 = 0;
    const r = await run('nf-gone', 30, async (runDir) => {
      await line(runDir, 'metrics.jsonl', stepDone(2), 120_000);
      t0 = Date.now();
      blackhole(true);
    });
    blackhole(false);
    const s = (r.cAt - t0) / 1000;
    console.log(
      `network-faults.test: workers gone ${((r.wAt - r.cAt) / 1000).toFixed(1)} s after the coordinator; their last lines: ${r.w.map((x) => x.stderr.trim().split('\n').slice(-2).join(' | ')).join(' || ')}`,
    );
    // Told to stop with the reason, the workers leave their wait on the ring at once (before: they
    // waited on it until 30 s without the coordinator's pings).
    expect((r.wAt - r.cAt) / 1000).toBeLessThan(5);
    expect(r.w.map((x) => x.stderr)).toEqual([expect.stringMatching(/"reason":"E_NETWORK: /), expect.stringMatching(/"reason":"E_NETWORK: /)]);
    expect(r.c.code).toBe(1);
    expect(r.c.stderr).toMatch(
      /E_NETWORK: the ring link from rank \d \(pid \d+ on [^,]+, inbox tcp:\/\/10\.232\.0\.\d:\d+\) to rank \d .* failed 3 times in a row in step \d+/,
    );
    console.log(
      `network-faults.test: a link blackholed for good ended the run ${s.toFixed(1)} s after the route went`,
    );
    expect(s).toBeLessThan(90);
  });

  // Without netem (this kernel has none), a congested link: a token bucket of 20 Mbit/s on each
  // worker's interface that drops what waits longer than 50 ms in its queue. Each step's 3 MB
  // all-reduce then takes seconds, with TCP retransmitting the drops: slower, never a failed link.
  it.runIf(hasTc)('only slows down over a congested link (20 Mbit/s, drops past 50 ms of queue), with the weights of an undisturbed run', async () => {
    if (cleanSums.length === 0) cleanSums = sums((await run('nf-clean-2', 8)).runDir);
    const tbf = (i: number, on: boolean) =>
      spawnSync('ip', ['netns', 'exec', hosts.ns(i), 'tc', 'qdisc', on ? 'add' : 'del', 'dev', hosts.device(i), 'root', ...(on ? ['tbf', 'rate', '20mbit', 'burst', '32kb', 'latency', '50ms'] : [])], { encoding: 'utf8' });
    for (const i of [1, 2]) {
      const r = tbf(i, true);
      if (r.status !== 0) throw new Error(`tc qdisc add … tbf: ${r.stderr}`);
    }
    const t0 = Date.now();
    try {
      const r = await run('nf-slow', 8);
      const stats = (i: number) => spawnSync('ip', ['netns', 'exec', hosts.ns(i), 'tc', '-s', 'qdisc', 'show', 'dev', hosts.device(i)], { encoding: 'utf8' }).stdout;
      const dropped = [1, 2].map((i) => Number(/dropped (\d+)/.exec(stats(i))?.[1] ?? 0));
      console.log(`network-faults.test: 8 steps over the congested link took ${((Date.now() - t0) / 1000).toFixed(1)} s; packets the token buckets dropped: ${dropped.join(', ')}`);
      expect(r.c.stderr).toMatch(/done: 8 steps/);
      expect(r.c.code).toBe(0);
      expect(readJsonLines(join(r.runDir, 'metrics.jsonl')).filter((e) => e['event'] === 'link')).toEqual([]);
      expect(sums(r.runDir)).toEqual(cleanSums);
    } finally {
      for (const i of [1, 2]) tbf(i, false);
    }
  });

  it.runIf(hasTc)('only slows down over a link with 5% loss and 50 ms delay', async (ctx) => {
    for (const i of [1, 2]) {
      const r = spawnSync(
        'ip',
        [
          'netns',
          'exec',
          hosts.ns(i),
          'tc',
          'qdisc',
          'add',
          'dev',
          hosts.device(i),
          'root',
          'netem',
          'loss',
          '5%',
          'delay',
          '50ms',
        ],
        { encoding: 'utf8' },
      );
      if (r.status !== 0 && /qdisc kind is unknown/.test(r.stderr)) {
        console.log(
          'network-faults.test: the lossy-link case is skipped: this kernel has no netem (sch_netem)',
        );
        ctx.skip();
      }
      if (r.status !== 0) throw new Error(`tc qdisc add … netem: ${r.stderr}`);
    }
    try {
      const r = await run('nf-lossy', 4);
      expect(r.c.stderr).toMatch(/done: 4 steps/);
      expect(r.c.code).toBe(0);
      expect(readJsonLines(join(r.runDir, 'metrics.jsonl')).filter((e) => e['event'] === 'link')).toEqual([]);
    } finally {
      for (const i of [1, 2])
        spawnSync('ip', ['netns', 'exec', hosts.ns(i), 'tc', 'qdisc', 'del', 'dev', hosts.device(i), 'root']);
    }
  });
});
