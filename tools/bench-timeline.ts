// bench:timeline — what --timeline costs a training step. Two measurements:
// 1. The work it adds, timed directly (µs per step): a worker building a step's spans and encoding
//    them into its step-done message, and the coordinator moving them to its clock and writing them
//    to the trace file (one positioned write per rank and step), for a step of --micro-batches.
// 2. Real runs of `tfjs-ddp train` (--workers, --steps after --warmup, the quick preset's 32×32
//    inputs and batch 48 by default: short steps, where a fixed cost weighs most), alternating
//    without and with --timeline, --pairs times; the median step time of each arm.
// Prints one JSON line per measurement and one with the overhead as a share of the step time.
// Usage: npm run bench:timeline -- [--workers 2] [--steps 12] [--warmup 2] [--pairs 3] [--micro-batches 8] [--resize 32] [--batch 48]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { encodeControl, type TraceSpan } from '@tfjs-ddp/core';
import { Timeline } from '@tfjs-ddp/coordinator';
import { stepSpans, type StepMoments } from '@tfjs-ddp/worker';

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '2' },
    steps: { type: 'string', default: '12' },
    warmup: { type: 'string', default: '2' },
    pairs: { type: 'string', default: '3' },
    'micro-batches': { type: 'string', default: '8' },
    resize: { type: 'string', default: '32' },
    batch: { type: 'string', default: '48' },
  },
});
const workers = Number(values.workers);
const microBatches = Number(values['micro-batches']);
const bin = fileURLToPath(new URL('../packages/cli/bin/tfjs-ddp.js', import.meta.url));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// 1. Direct cost.
const dir = mkdtempSync(join(tmpdir(), 'bench-timeline-'));
const micro: TraceSpan[] = Array.from({ length: microBatches }, (_, i) => {
  const t = 100 + 40 * i;
  return [
    { name: 'micro-batch', start: t, end: t + 39, args: { micro_batch: i + 1, samples: 16 } },
    { name: 'data', start: t, end: t + 2 },
    { name: 'forward+backward', start: t + 2, end: t + 39 },
  ];
}).flat();
const rounds = 5000;
/** A step's moments as a worker measures them (performance.now() ms). */
const moments = (step: number): StepMoments => ({ step, attempt: 0, samples: 128, microBatch: 16, left: 1, bytes: 3_032_920, idleSince: 90, received: 100, micro, t0: 500, ring: { start: 501, firstChunk: 510, reduceScatterEnd: 520, end: 530 }, t1: 531, t2: 540, checksum: false, doneAt: 541 });
let bytes = 0;
const w0 = performance.now();
for (let i = 0; i < rounds; i++) bytes = encodeControl({ type: 'step-done', trace: stepSpans(moments(i)) })[0]!.byteLength;
const workerUs = ((performance.now() - w0) * 1000) / rounds;
const decoded = stepSpans(moments(1));
const timeline = Timeline.open(join(dir, 'trace.json'));
const c0 = performance.now();
for (let i = 0; i < rounds; i++) {
  for (let r = 0; r < workers; r++) timeline.rank(r, decoded.map((s) => ({ ...s, start: s.start - 0.01, end: s.end - 0.01 })), { pid: 1, host: 'h', clockOffsetMs: 0.01 });
}
const coordinatorUs = ((performance.now() - c0) * 1000) / rounds;
timeline.close();
const direct = { bench: 'timeline', measure: 'direct', micro_batches: microBatches, workers, spans_per_rank_step: decoded.length, message_bytes_per_rank_step: bytes, worker_us_per_step: +workerUs.toFixed(1), coordinator_us_per_step: +coordinatorUs.toFixed(1) };
console.log(JSON.stringify(direct));

// 2. Real runs, alternating.
const data = process.env['TFJS_DDP_DATA'] ?? '/usr/share/datasets/fashion-mnist';
function run(withTimeline: boolean): number {
  const runDir = join(dir, `r-${Date.now()}`);
  const args = [bin, 'train', '--workers', String(workers), '--resize', values.resize, '--batch-size', values.batch, '--epochs', '1', '--backend', 'wasm', '--data-dir', data,
    '--max-steps', String(Number(values.steps) + Number(values.warmup)), '--checkpoint-every', '0', '--run-dir', runDir, ...(withTimeline ? ['--timeline', join(runDir, '..', `trace-${Date.now()}.json`)] : [])];
  execFileSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const ms = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; ms: number }).filter((m) => m.event === 'step').slice(Number(values.warmup)).map((m) => m.ms);
  return median(ms);
}
if (Number(values.pairs) === 0) {
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}
const arms: Record<'off' | 'on', number[]> = { off: [], on: [] };
for (let p = 0; p < Number(values.pairs); p++) {
  for (const arm of p % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) arms[arm].push(run(arm === 'on'));
}
const off = median(arms.off);
const on = median(arms.on);
console.log(JSON.stringify({ bench: 'timeline', measure: 'runs', workers, resize: Number(values.resize), global_batch: Number(values.batch), steps: Number(values.steps), pairs: Number(values.pairs), step_ms_off: arms.off, step_ms_on: arms.on, median_step_ms_off: off, median_step_ms_on: on }));
console.log(JSON.stringify({ bench: 'timeline', direct_share_of_step: +(((direct.worker_us_per_step + direct.coordinator_us_per_step) / 1000) / off).toFixed(5), runs_difference: +((on - off) / off).toFixed(4) }));
rmSync(dir, { recursive: true, force: true });
