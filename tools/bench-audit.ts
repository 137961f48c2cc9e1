// bench:audit — what the silent-data-corruption audit (--audit-every) costs: short `tfjs-ddp train`
// runs (wasm, 2 workers, a synthetic Fashion-MNIST), alternating runs without the audit and runs
// with it every 2nd step (ABBA, so that a load that changes over time hits both alike). In an
// audited run the audited and the plain steps alternate too, under the same load: the audit's cost
// is the audited steps' median time minus the plain steps' (the first 2 steps left out: warm-up);
// at --audit-every K it is that, once in K steps, over the plain steps' median. Also: each
// rank's recomputation time (audit_ms in metrics.jsonl), and whether the plain steps of an audited
// run are slower than those of a run without the audit; and the first audit of a run, which also
// has each rank recompute its own micro-batch (the self-check: is the step repeatable?), at step K:
// its step time and audit_ms against the later audited steps'. One JSON line per run, then a
// summary (median, min, max over the rounds).
// --audited K: the audited runs' --audit-every (default 2; 4 puts the first audit past warm-up).
// Usage: npm run bench:audit -- [--rounds 3] [--steps 14] [--resize 32] [--batch-size 48] [--micro-batch 24] [--every 100] [--audited 2]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    steps: { type: 'string', default: '14' },
    resize: { type: 'string', default: '32' },
    'batch-size': { type: 'string', default: '48' },
    'micro-batch': { type: 'string', default: '24' },
    every: { type: 'string', default: '200' },
    audited: { type: 'string', default: '2' },
  },
});
const steps = Number(values.steps);
const batch = Number(values['batch-size']);
const every = Number(values.every);
const k = Number(values.audited);
const repo = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'bench-audit-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const data = join(work, 'data');
await writeSyntheticFashionMnist(data, { train: steps * batch, test: 32, seed: 3 });
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TFJS_DDP_')));

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? Number.NaN
    : s.length % 2 === 1
      ? s[(s.length - 1) / 2]!
      : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const round1 = (x: number) => Math.round(x * 10) / 10;

interface RunFigures {
  audit: number;
  /** Median step time: of all steps, of the audited ones, of the others. */
  stepMs: number;
  auditedStepMs: number | null;
  plainStepMs: number;
  auditMs: number | null;
  /** The first audit (step `audit`, with the self-check): its step time and median audit_ms. */
  firstAuditStepMs: number | null;
  firstAuditMs: number | null;
}

function run(auditEvery: number, i: number): RunFigures {
  const runDir = join(work, `run-${i}-${auditEvery}`);
  const args = [
    'packages/cli/bin/tfjs-ddp.js',
    'train',
    '--data-dir',
    data,
    '--verify-data',
    'false',
    '--backend',
    'wasm',
    '--workers',
    '2',
    '--resize',
    String(values.resize),
    '--batch-size',
    String(batch),
    '--micro-batch',
    String(values['micro-batch']),
    '--epochs',
    '1',
    '--max-steps',
    String(steps),
    '--eval-limit',
    '32',
    '--checkpoint-every',
    '0',
    '--audit-every',
    String(auditEvery),
    '--run-dir',
    runDir,
  ];
  const r = spawnSync(process.execPath, args, { cwd: repo, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`train exited with ${r.status}: ${r.stderr}`);
  const lines = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const stepLines = lines.filter((m) => m['event'] === 'step' && (m['step'] as number) > 2);
  const audited = (m: Record<string, unknown>) => auditEvery > 0 && (m['step'] as number) % auditEvery === 0;
  const audits = stepLines
    .flatMap((m) => m['timings'] as Record<string, number>[])
    .map((t) => t['audit_ms'])
    .filter((x): x is number => typeof x === 'number');
  const ms = (xs: Record<string, unknown>[]) => median(xs.map((m) => m['ms'] as number));
  const first = lines.find((m) => m['event'] === 'step' && m['step'] === auditEvery);
  const firstAudits = ((first?.['timings'] ?? []) as Record<string, number>[])
    .map((t) => t['audit_ms'])
    .filter((x): x is number => typeof x === 'number');
  return {
    audit: auditEvery,
    stepMs: ms(stepLines),
    auditedStepMs: auditEvery > 0 ? ms(stepLines.filter(audited)) : null,
    plainStepMs: ms(stepLines.filter((m) => !audited(m))),
    auditMs: audits.length > 0 ? median(audits) : null,
    firstAuditStepMs: auditEvery > 0 && first !== undefined ? (first['ms'] as number) : null,
    firstAuditMs: firstAudits.length > 0 ? median(firstAudits) : null,
  };
}

const results: RunFigures[] = [];
for (let i = 0; i < Number(values.rounds); i++) {
  const order = i % 2 === 0 ? [0, k] : [k, 0];
  for (const a of order) {
    const f = run(a, i);
    results.push(f);
    const r = (x: number | null) => (x === null ? null : round1(x));
    console.log(
      JSON.stringify({
        round: i + 1,
        audit_every: a,
        step_ms: r(f.stepMs),
        audited_step_ms: r(f.auditedStepMs),
        plain_step_ms: r(f.plainStepMs),
        audit_ms: r(f.auditMs),
        first_audit_step_ms: r(f.firstAuditStepMs),
        first_audit_ms: r(f.firstAuditMs),
        loadavg: loadavg()[0],
      }),
    );
  }
}
const plain = results.filter((r) => r.audit === 0);
const audited = results.filter((r) => r.audit === k);
// Per round: the audited steps' extra time over the plain steps of the same run.
const extra = audited.map((a) => a.auditedStepMs! - a.plainStepMs);
// Over the plain steps of the same run: the runs without the audit, minutes apart on a shared
// machine, differ more than the audit costs (they are printed to show it).
const cost = (n: number) => extra.map((x, i) => (100 * x) / n / audited[i]!.plainStepMs);
const range = (xs: number[]) => ({
  median: round1(median(xs)),
  min: round1(Math.min(...xs)),
  max: round1(Math.max(...xs)),
});
console.log(
  JSON.stringify({
    figure: 'summary',
    settings: {
      resize: Number(values.resize),
      batch_size: batch,
      micro_batch: Number(values['micro-batch']),
      workers: 2,
      steps,
      audit_every: k,
    },
    step_ms_without_audit: range(plain.map((r) => r.stepMs)),
    plain_step_ms_of_audited_runs: range(audited.map((r) => r.plainStepMs)),
    audited_step_ms: range(audited.map((r) => r.auditedStepMs!)),
    audit_ms: range(audited.map((r) => r.auditMs ?? Number.NaN)),
    extra_ms_per_audit: range(extra),
    // The first audit (step K) also recomputes each rank's own micro-batch: once per run.
    first_audit_step_ms: range(audited.map((r) => r.firstAuditStepMs!)),
    first_audit_ms: range(audited.map((r) => r.firstAuditMs ?? Number.NaN)),
    self_check_extra_ms: range(audited.map((r) => r.firstAuditMs! - r.auditMs!)),
    cost_at_1_pct: range(cost(1)),
    [`cost_at_${every}_pct`]: range(cost(every)),
  }),
);
