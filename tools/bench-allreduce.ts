// bench:allreduce — ring all-reduce over ZeroMQ between real processes: one Node process per rank,
// all on this machine (ipc:// or tcp://127.0.0.1). Prints one JSON line per (chunk, N, size): median
// time per all-reduce on rank 0 after warm-up (each timed call preceded by a 1-float all-reduce as a
// barrier), algbw = bytes / time, busbw = algbw · 2(N−1)/N (nccl-tests definitions; algbw_mb_per_s,
// busbw_mb_per_s), MB = 1e6 B;
// cpu_ms = CPU time of a rank's process (user + system, all threads) during a timed call, mean over
// calls and ranks: unlike the wall time it barely changes when something else shares the cores.
// Usage:
//   npm run bench:allreduce -- [--n 2,4] [--bytes 3032904,67108864] [--iters 20] [--warmup 3]
//                              [--transport ipc|tcp] [--chunk auto|131072[,65536,...]] [--hwm 64]
//                              [--sockbuf 4194304] [--data-plane auto|native|zeromq.js]
// Anchor on the same machine: /usr/bin/python3 /work/shared/anchors/torch_allreduce.py N FLOATS ITERS
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bindRingInbox, closeRing, connectRing, defaultChunkElements, ringAllReduce } from '@tfjs-ddp/core';
import { ZmqTransport, nativeDataPlane } from '@tfjs-ddp/core/zmq';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '2,4' },
    bytes: { type: 'string', default: '3032904,67108864' },
    iters: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    transport: { type: 'string', default: 'ipc' },
    chunk: { type: 'string', default: 'auto' },
    hwm: { type: 'string' },
    sockbuf: { type: 'string' },
    'data-plane': { type: 'string', default: 'auto' },
    child: { type: 'boolean', default: false },
    rank: { type: 'string', default: '0' },
    dir: { type: 'string', default: '' },
  },
});
const list = (s: string): number[] => s.split(',').map(Number);
const TIMEOUT_MS = 120_000;

type ToParent =
  | { type: 'bound'; address: string }
  | { type: 'result'; medianS: number; minS: number; cpuS: number }
  | { type: 'error'; message: string };
type ToChild = { type: 'ring'; addresses: string[] };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** One rank: bind, learn the ring from the parent, check the sum once, then time. */
async function child(): Promise<void> {
  const [n] = list(values.n);
  const [bytes] = list(values.bytes);
  const chunkElements = values.chunk === 'auto' ? undefined : Number(values.chunk);
  const rank = Number(values.rank);
  const send = (m: ToParent): void => void process.send!(m);
  const transport = new ZmqTransport({
    ...(values.hwm ? { dataHighWaterMark: Number(values.hwm) } : {}),
    ...(values.sockbuf ? { dataSocketBufferBytes: Number(values.sockbuf) } : {}),
    dataPlane: values['data-plane'] === 'zeromq.js' ? 'zeromq.js' : 'auto',
  });
  if (values['data-plane'] === 'native' && transport.dataPlane !== 'native') {
    throw new Error(`--data-plane native: ${nativeDataPlane().why}`);
  }
  const inbox = await bindRingInbox(
    transport,
    values.transport === 'tcp' ? 'tcp://127.0.0.1:0' : `ipc://${values.dir}/r${rank}.sock`,
  );
  const ringMsg = new Promise<ToChild>((resolve) => process.once('message', (m) => resolve(m as ToChild)));
  send({ type: 'bound', address: inbox.address });
  const { addresses } = await ringMsg;
  const ch = await connectRing(transport, inbox, {
    rank,
    worldSize: n!,
    rightAddress: addresses[(rank + 1) % n!]!,
  });
  const buf = new Float32Array(bytes! / 4);
  const token = new Float32Array(1);
  let step = 0;
  const reduce = async (b: Float32Array): Promise<void> => {
    await ringAllReduce(b, ch, { step: step++, timeoutMs: TIMEOUT_MS, chunkElements });
  };

  buf.fill(rank + 1);
  await reduce(buf);
  const want = (n! * (n! + 1)) / 2;
  const bad = buf.findIndex((x) => x !== want);
  if (bad >= 0) throw new Error(`rank ${rank}: element ${bad} is ${buf[bad]}, expected ${want}`);

  for (let i = 0; i < Number(values.warmup); i++) await reduce(buf);
  const times: number[] = [];
  let cpuUs = 0;
  for (let i = 0; i < Number(values.iters); i++) {
    buf.fill(1);
    await reduce(token); // barrier: no rank leaves it before every rank has entered it
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await reduce(buf);
    times.push((performance.now() - t0) / 1000);
    const cpu = process.cpuUsage(cpu0);
    cpuUs += cpu.user + cpu.system;
  }
  send({
    type: 'result',
    medianS: median(times),
    minS: Math.min(...times),
    cpuS: cpuUs / 1e6 / times.length,
  });
  // Leave together: a rank's last chunks may still be queued in ZeroMQ when its own call returns.
  await reduce(token);
  await closeRing(ch);
  process.disconnect();
}

/** N processes for one (N, size, chunk); resolves with rank 0's timings. */
async function runGroup(
  n: number,
  bytes: number,
  chunk: string,
): Promise<{ medianS: number; minS: number; cpuS: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-ar-'));
  const self = fileURLToPath(import.meta.url);
  const args = (r: number): string[] =>
    [
      '--import',
      'tsx',
      self,
      '--child',
      '--rank',
      String(r),
      '--n',
      String(n),
      '--bytes',
      String(bytes),
      '--chunk',
      chunk,
    ]
      .concat([
        '--iters',
        values.iters,
        '--warmup',
        values.warmup,
        '--transport',
        values.transport,
        '--dir',
        dir,
      ])
      .concat(values.hwm ? ['--hwm', values.hwm] : [])
      .concat(values.sockbuf ? ['--sockbuf', values.sockbuf] : [])
      .concat(['--data-plane', values['data-plane']]);
  const procs: ChildProcess[] = Array.from({ length: n }, (_, r) =>
    spawn(process.execPath, args(r), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
  try {
    const addresses = new Array<string>(n);
    let bound = 0;
    const cpu: number[] = [];
    let rank0: { medianS: number; minS: number } | undefined;
    return await new Promise((resolve, reject) => {
      procs.forEach((p, r) => {
        p.on('message', (m: ToParent) => {
          if (m.type === 'bound') {
            addresses[r] = m.address;
            if (++bound === n) for (const q of procs) q.send({ type: 'ring', addresses } satisfies ToChild);
          } else if (m.type === 'result') {
            cpu.push(m.cpuS);
            if (r === 0) rank0 = m;
            if (cpu.length === n) resolve({ ...rank0!, cpuS: cpu.reduce((a, b) => a + b) / n });
          }
        });
        p.on('exit', (code, signal) => {
          if (code !== 0) reject(new Error(`rank ${r} (pid ${p.pid}) exited with ${signal ?? code}`));
        });
      });
    });
  } finally {
    await Promise.all(procs.map((p) => (p.exitCode !== null ? null : new Promise((r) => p.once('exit', r)))));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (values.child) {
  await child();
} else {
  const dataPlane = new ZmqTransport({
    dataPlane: values['data-plane'] === 'zeromq.js' ? 'zeromq.js' : 'auto',
  }).dataPlane;
  for (const chunk of values.chunk.split(',')) {
    for (const n of list(values.n)) {
      for (const bytes of list(values.bytes)) {
        const { medianS, minS, cpuS } = await runGroup(n, bytes, chunk);
        const algbw = bytes / medianS / 1e6;
        console.log(
          JSON.stringify({
            engine: 'tfjs-ddp-zmq',
            transport: values.transport,
            data_plane: dataPlane,
            workers: n,
            bytes,
            chunk_elements: chunk === 'auto' ? defaultChunkElements(bytes / 4, n) : Number(chunk),
            median_s: Number(medianS.toFixed(6)),
            min_s: Number(minS.toFixed(6)),
            cpu_ms: Number((cpuS * 1e3).toFixed(2)),
            algbw_mb_per_s: Number(algbw.toFixed(1)),
            busbw_mb_per_s: Number(((algbw * 2 * (n - 1)) / n).toFixed(1)),
          }),
        );
      }
    }
  }
}
