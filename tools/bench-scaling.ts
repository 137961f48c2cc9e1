// bench:scaling — data-parallel scaling on this machine: `tfjs-ddp train` with 1 worker and with N
// workers at the same per-worker batch, on the real Fashion-MNIST, then samples/s and the step-time
// breakdown (data, forward/backward, all-reduce, apply, waiting for the slowest rank) from the
// runs' metrics.jsonl. Prints one JSON line per run and one with the speed-up. Usage:
//   npm run bench:scaling -- [--workers 2] [--per-worker-batch 64] [--resize 96] [--steps 8] [--warmup 2]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '2' },
    'per-worker-batch': { type: 'string', default: '64' },
    resize: { type: 'string', default: '96' },
    steps: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    backend: { type: 'string', default: 'wasm' },
  },
});
const bin = fileURLToPath(new URL('../packages/cli/bin/tfjs-ddp.js', import.meta.url));
const perWorker = Number(values['per-worker-batch']);
const warmup = Number(values.warmup);

/** A rank's timings in a step event of metrics.jsonl. */
interface Timing { rank: number; data_ms: number; compute_ms: number; allreduce_ms: number; apply_ms: number }

function run(workers: number): Record<string, unknown> {
  const runDir = join(mkdtempSync(join(tmpdir(), 'bench-scaling-')), 'r');
  const batch = perWorker * workers;
  execFileSync(process.execPath, [bin, 'train', '--workers', String(workers), '--batch-size', String(batch), '--micro-batch', String(perWorker),
    '--resize', values.resize, '--backend', values.backend, '--max-steps', String(Number(values.steps) + warmup), '--epochs', '1', '--run-dir', runDir], { stdio: ['ignore', 'ignore', 'inherit'] });
  const steps = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; ms: number; samples: number; timings: Timing[] })
    .filter((m) => m.event === 'step').slice(warmup);
  rmSync(dirname(runDir), { recursive: true, force: true });
  const mean = (f: (s: (typeof steps)[number]) => number) => steps.reduce((a, s) => a + f(s), 0) / steps.length;
  const stepMs = mean((s) => s.ms);
  // The ring's receive blocks until the slowest neighbour has finished computing: the all-reduce
  // time of the slowest rank (the smallest) is the transfer itself, the rest on other ranks is waiting.
  const allreduce = mean((s) => Math.min(...s.timings.map((t) => t.allreduce_ms)));
  const avg = (k: keyof Timing) => mean((s) => s.timings.reduce((a, t) => a + (t[k] as number), 0) / s.timings.length);
  return {
    bench: 'scaling', workers, global_batch: batch, per_worker_batch: perWorker, resize: Number(values.resize), steps: steps.length,
    samples_per_s: +((batch * 1000) / stepMs).toFixed(2), step_ms: Math.round(stepMs),
    breakdown_ms: { data: Math.round(avg('data_ms')), forward_backward: Math.round(avg('compute_ms')), allreduce: Math.round(allreduce), apply: Math.round(avg('apply_ms')), waiting_for_slowest: Math.round(avg('allreduce_ms') - allreduce) },
    allreduce_share: +(allreduce / stepMs).toFixed(3),
  };
}

const one = run(1);
console.log(JSON.stringify(one));
const n = run(Number(values.workers));
console.log(JSON.stringify(n));
console.log(JSON.stringify({ bench: 'scaling', speedup: +((n['samples_per_s'] as number) / (one['samples_per_s'] as number)).toFixed(3), workers: values.workers }));
