// Issue 12, the timeline: a 2-worker run with TFJS_DDP_TIMELINE writes a Chrome trace in which every
// rank's steps nest and order (micro-batches with data then forward+backward, then the all-reduce
// with its reduce-scatter, which starts with the wait for the left neighbour, then its all-gather,
// then the update), inside the coordinator's wait for that step (the clocks are aligned); the file
// parses after the coordinator is SIGKILLed mid-run, and `train --resume` appends to it, ending the
// phases the killed run left open.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { beforeAll, describe, expect, it } from 'vitest';
import { allWorkerPids, running } from './support/processes';
import { runCli, startCli, tmp } from './support/spawn-cli';

// Tests here act on a run after one of its step lines: its runs take the wasm kernels' steps, for
// which they were written (with the native kernels a short run can end before the test acts).
process.env['TFJS_DDP_CPU_KERNELS'] = 'wasm';

interface TraceEvent {
  name: string;
  ph: string;
  pid: number;
  tid: number;
  ts?: number;
  dur?: number;
  args?: Record<string, unknown>;
}
interface Span {
  name: string;
  start: number;
  end: number;
  args?: Record<string, unknown>;
}

let data: string;
beforeAll(async () => {
  data = tmp('timeline-data');
  // 96 samples, global batch 16: 6 steps an epoch; 8 samples a rank in micro-batches of 4.
  await writeSyntheticFashionMnist(data, { train: 96, test: 32, seed: 5 });
});

const read = (f: string) => JSON.parse(readFileSync(f, 'utf8')) as TraceEvent[];
const spansOf = (events: TraceEvent[], pid: number): Span[] =>
  events.filter((e) => e.pid === pid && e.ph === 'X').map((e) => ({ name: e.name, start: e.ts!, end: e.ts! + e.dur!, ...(e.args !== undefined ? { args: e.args } : {}) }));
const within = (c: Span, p: Span, slackUs = 0) => c.start >= p.start - slackUs && c.end <= p.end + slackUs;

/** The coordinator's B/E pairs as spans; throws when an E has no B (they must nest). */
function phases(events: TraceEvent[], pid: number): Span[] {
  const open: TraceEvent[] = [];
  const out: Span[] = [];
  for (const e of events.filter((x) => x.pid === pid && (x.ph === 'B' || x.ph === 'E'))) {
    if (e.ph === 'B') open.push(e);
    else {
      const b = open.pop();
      if (b === undefined) throw new Error(`an end at ${e.ts} without a begin`);
      expect(e.ts!).toBeGreaterThanOrEqual(b.ts!);
      out.push({ name: b.name, start: b.ts!, end: e.ts!, ...(b.args !== undefined ? { args: b.args } : {}) });
    }
  }
  expect(open.map((b) => b.name)).toEqual([]);
  return out;
}

/** Checks one rank's steps: nesting and order of their phases. Returns the step spans. */
function checkRank(events: TraceEvent[], pid: number, left: number): Span[] {
  const spans = spansOf(events, pid);
  const steps = spans.filter((s) => /^step \d+$/.test(s.name));
  expect(steps.length).toBeGreaterThan(0);
  for (let i = 1; i < steps.length; i++) expect(steps[i]!.start).toBeGreaterThanOrEqual(steps[i - 1]!.end);
  for (const step of steps) {
    const inner = spans.filter((s) => s !== step && within(s, step) && !/^step /.test(s.name));
    const named = (n: string) => inner.filter((s) => s.name === n);
    const micro = named('micro-batch');
    expect(micro.map((m) => m.args?.['micro_batch'])).toEqual([1, 2]);
    for (const m of micro) {
      const [data, fb] = [named('data').find((d) => within(d, m))!, named('forward+backward').find((d) => within(d, m))!];
      expect(data.end).toBeLessThanOrEqual(fb.start);
    }
    const [ar] = named('all-reduce');
    const [rs] = named('reduce-scatter');
    const [ag] = named('all-gather');
    const [wait] = named(`wait for rank ${left}`);
    const [apply] = named('apply');
    expect(ar && rs && ag && wait && apply, `step ${step.name} on pid ${pid}: ${inner.map((s) => s.name).join(', ')}`).toBeTruthy();
    expect(micro.at(-1)!.end).toBeLessThanOrEqual(ar!.start);
    expect(within(rs!, ar!) && within(ag!, ar!) && within(wait!, rs!)).toBe(true);
    expect(wait!.start).toBe(rs!.start);
    expect(rs!.end).toBeLessThanOrEqual(ag!.start);
    expect(apply!.start).toBeGreaterThanOrEqual(ar!.end);
    expect(ar!.args).toEqual({ bytes: expect.any(Number) });
  }
  return steps;
}

describe('--timeline', () => {
  it("nests every rank's step phases in order inside the coordinator's, survives a SIGKILL, and a resume appends", async () => {
    const dir = tmp('timeline');
    const runDir = join(dir, 'r');
    const file = join(dir, 'trace.json');
    const args = ['train', '--data-dir', data, '--verify-data', 'false', '--resize', '32', '--backend', 'wasm', '--workers', '2', '--batch-size', '16', '--micro-batch', '4', '--epochs', '1', '--checkpoint-every', '2', '--run-dir', runDir];
    const run = startCli(args, { TFJS_DDP_TIMELINE: file });
    await Promise.race([
      run.waitForLine(/"type":"step".*"step":3,/),
      run.exit.then((e) => Promise.reject(new Error(`the run exited (${e.code ?? e.signal}) before step 3:\n${e.stderr}`))),
    ]);
    process.kill(run.child.pid!, 'SIGKILL');
    await run.exit;
    for (const pid of allWorkerPids(runDir)) if (running(pid)) process.kill(pid, 'SIGKILL');

    // Killed mid-run: the file still parses, with the steps done so far on both ranks.
    const killed = read(file);
    const labels = killed.filter((e) => e.name === 'process_name').map((e) => [e.pid, e.args!['name']]);
    expect(labels).toEqual([[1, 'coordinator'], [2, 'rank 0'], [3, 'rank 1']]);
    expect(checkRank(killed, 2, 1).length).toBeGreaterThanOrEqual(3);
    expect(checkRank(killed, 3, 0).length).toBeGreaterThanOrEqual(3);

    // The resume (its config.json names the timeline) appends: the killed run's events stay first.
    const resumed = await runCli(['train', '--resume', runDir]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`tfjs-ddp: report: ${join(runDir, 'report.html')}; timeline: ${file} (open it in https://ui.perfetto.dev)`);
    const all = read(file);
    expect(all.slice(0, killed.length)).toEqual(killed);
    const coordinator = phases(all, 1); // the phases the kill left open were ended: all nest
    const names = new Set(coordinator.map((p) => p.name));
    for (const n of ['start the workers', 'step 1', 'plan', 'wait for the ranks', 'checkpoint', 'restore the checkpoint', 'evaluate', 'compare the weights', 'save the model', 'stop the workers']) expect(names).toContain(n);
    expect(coordinator.filter((p) => p.args?.['unfinished'] === undefined && p.name === 'step 6')).toHaveLength(1);

    for (const [pid, left] of [[2, 1], [3, 0]] as const) {
      const steps = checkRank(all.slice(killed.length), pid, left);
      // The resumed run went on from the checkpoint of step 2 to the end of the epoch.
      expect(steps.map((s) => s.name)).toEqual(['step 3', 'step 4', 'step 5', 'step 6']);
      // Clocks aligned: each rank's step lies inside the coordinator's wait for it (1 ms of slack
      // for the offset's error; measured offsets on one host are a few µs).
      const restored = coordinator.find((p) => p.name === 'restore the checkpoint')!;
      const waits = coordinator.filter((p) => p.name === 'wait for the ranks' && p.start >= restored.end);
      for (const s of steps) {
        const n = Number(s.name.slice(5));
        const w = waits.find((x) => x.args?.['step'] === n);
        expect(w, `no wait for step ${n}`).toBeDefined();
        expect(within(s, w!, 1000), `${s.name} on pid ${pid} [${s.start}, ${s.end}] is not inside the coordinator's wait [${w!.start}, ${w!.end}]`).toBe(true);
      }
      // The evaluation at the epoch's end: BatchNorm averaging, then the test-set pass.
      const ev = spansOf(all, pid).filter((s) => s.name === 'evaluate');
      expect(ev).toHaveLength(1);
      const parts = spansOf(all, pid).filter((s) => within(s, ev[0]!) && s.name !== 'evaluate');
      expect(parts.map((s) => s.name)).toEqual(['average BatchNorm statistics', 'test-set forward']);
    }
  }, 240_000);
});
