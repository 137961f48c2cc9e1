// The report's model: what report.html shows, built from the texts of a run directory's files
// (config.json, metrics.jsonl, summary.json) and nothing else; nested records (timings, memory-fit
// reports) are read through run-documents.ts, which also takes the camelCase of older files. Pure:
// write-report.ts reads the files, render-html.ts and report-charts.ts draw the result. A missing or
// unreadable file becomes a note, never an error, so a run that failed before its first step still
// gets a report.
import type { GpuAdapterReport, MemoryFitReport, RankTimings } from '@tfjs-ddp/core';
import { memoryFitFromJson, rankTimingsFromJson, workerFitFromJson } from '../run-documents';
import type { RankPlan } from '../loop/batch-plan';

/** The texts of a run's files (null: absent) and which of its other files exist. */
export interface RunFiles {
  path: string;
  config: string | null;
  metrics: string | null;
  summary: string | null;
  /** train.log, model/model.json, tensorboard/, checkpoints/ and the like: present or not. */
  present: Record<string, boolean>;
}

export interface StepPoint {
  step: number;
  epoch: number;
  /** Seconds since the run's first event. */
  t: number | null;
  loss: number;
  acc: number;
  samples: number;
  ms: number;
  samplesPerS: number;
  timings: RankTimings[];
  /** The task's own metrics (means), by name. */
  metrics: Record<string, number>;
}

/** An epoch's figures, placed at its last step. */
export interface EpochPoint {
  epoch: number;
  step: number;
  trainLoss: number;
  trainAcc: number;
  testLoss: number;
  testAcc: number;
  trainMetrics: Record<string, number>;
  testMetrics: Record<string, number>;
}

export type MarkerKind = 'oom' | 'restart' | 'skipped' | 'membership' | 'resume' | 'stopped';

/** An event drawn as a vertical line on the step axis (and at its time on the time axis). */
export interface Marker {
  kind: MarkerKind;
  step: number;
  t: number | null;
  text: string;
}

/** One rank's step-time breakdown, step by step: waitMs = step ms − the rest, at least 0. */
export interface RankBreakdown {
  rank: number;
  steps: number[];
  dataMs: number[];
  computeMs: number[];
  allreduceMs: number[];
  applyMs: number[];
  waitMs: number[];
}

export interface RankRow {
  rank: number;
  host: string | null;
  pid: number | null;
  device: string;
  capacity: number | null;
  plan: RankPlan | null;
  memoryFit: MemoryFitReport | null;
}

/** The final figures (summary.json, or what metrics.jsonl says when it is missing). */
export interface Final {
  status: string;
  error: string | null;
  backend: string | null;
  worldSize: number | null;
  globalBatch: number | null;
  steps: number | null;
  epochs: number | null;
  epochsCompleted: number | null;
  trainLoss: number | null;
  testAcc: number | null;
  samplesPerS: number | null;
  wallS: number | null;
  restarts: number;
  oomEvents: number;
  skippedSteps: number;
}

export interface ReportData {
  path: string;
  /** What is missing or unreadable, one sentence each. */
  notes: string[];
  startTime: string | null;
  config: Record<string, unknown> | null;
  final: Final;
  ranks: RankRow[];
  steps: StepPoint[];
  epochs: EpochPoint[];
  breakdown: RankBreakdown[];
  markers: Marker[];
  files: { name: string; present: boolean }[];
}

type Json = Record<string, unknown>;
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const obj = (v: unknown): Json | null => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : null);
/** An object's finite numeric entries ({ name: mean } of a task's own metrics). */
const numbers = (v: unknown): Record<string, number> => Object.fromEntries(Object.entries(obj(v) ?? {}).filter((kv): kv is [string, number] => num(kv[1]) !== null));
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function parseObject(name: string, text: string | null, notes: string[], why: string): Json | null {
  if (text === null) {
    notes.push(`${name} is missing: ${why}`);
    return null;
  }
  try {
    const v = obj(JSON.parse(text));
    if (v === null) notes.push(`${name} is not a JSON object`);
    return v;
  } catch (e) {
    notes.push(`${name} is not JSON (${(e as Error).message})`);
    return null;
  }
}

function parseLines(text: string | null, notes: string[]): Json[] {
  if (text === null) {
    notes.push('metrics.jsonl is missing: no steps, epochs or events to show');
    return [];
  }
  const out: Json[] = [];
  let bad = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const v = obj(JSON.parse(line));
      if (v !== null) out.push(v);
      else bad++;
    } catch {
      bad++; // the half line of a killed writer
    }
  }
  if (bad > 0) notes.push(`metrics.jsonl has ${bad} unreadable line${bad === 1 ? '' : 's'} (skipped)`);
  return out;
}

function markerText(e: Json): string {
  switch (e['event']) {
    case 'oom':
      return `rank ${e['rank']}: micro-batch ${e['old_micro_batch']} → ${e['new_micro_batch']} (accumulation ${e['accumulation']}): ${e['reason']}`;
    case 'restart':
      return `rank ${e['rank']} (pid ${e['old_pid']} → ${e['new_pid']}): ${e['cause']}`;
    case 'skipped':
      return `${e['reason'] ?? 'non-finite gradient'} (${e['in_a_row']} in a row)`;
    case 'membership':
      return `${e['kind']}: ${e['workers']} workers${list(e['lost']).length > 0 ? `, lost ranks ${list(e['lost']).map((l) => obj(l)?.['rank']).join(', ')}` : ''}`;
    case 'resume':
      return `from ${String(e['from']).split('/').pop()} on ${e['workers']} workers (were ${e['previous_workers']})`;
    default:
      return `by ${e['reason']}`;
  }
}

function deviceOf(adapter: GpuAdapterReport | null, w: Json | null, backend: string | null): string {
  if (adapter !== null) return `${adapter.description || adapter.vendor} (${adapter.architecture || adapter.vendor}${adapter.software ? ', software' : ''})`;
  return `${str(w?.['backend']) ?? backend ?? '?'} on ${str(w?.['device']) ?? 'cpu'}`;
}

/** The report's model of one run directory, from its files' texts. */
export function reportData(files: RunFiles): ReportData {
  const notes: string[] = [];
  const config = parseObject('config.json', files.config, notes, 'the settings are unknown');
  const events = parseLines(files.metrics, notes);
  const summary = parseObject('summary.json', files.summary, notes, 'the run is still going, or was killed; the figures below come from metrics.jsonl');
  const t0 = events.map((e) => Date.parse(str(e['time']) ?? '')).find((t) => !Number.isNaN(t)) ?? null;
  const at = (e: Json) => {
    const t = Date.parse(str(e['time']) ?? '');
    return t0 === null || Number.isNaN(t) ? null : (t - t0) / 1000;
  };

  // A resume re-logs the steps after its checkpoint: the last line of a step is the one that counts.
  const steps = new Map<number, StepPoint>();
  const epochs: EpochPoint[] = [];
  const markers: Marker[] = [];
  let lastStart: Json | null = null;
  let lastStep = 0;
  for (const e of events) {
    const kind = e['event'];
    const step = num(e['step']);
    if (kind === 'start') lastStart = e;
    if (kind === 'step' && step !== null) {
      const timings = list(e['timings']).map(rankTimingsFromJson).filter((x): x is RankTimings => x !== null);
      steps.set(step, { step, epoch: num(e['epoch']) ?? 0, t: at(e), loss: num(e['loss']) ?? NaN, acc: num(e['acc']) ?? NaN, samples: num(e['samples']) ?? 0, ms: num(e['ms']) ?? 0, samplesPerS: num(e['samples_per_s']) ?? NaN, timings, metrics: numbers(e['metrics']) });
      lastStep = step;
    } else if (kind === 'epoch') {
      epochs.push({ epoch: num(e['epoch']) ?? 0, step: lastStep, trainLoss: num(e['train_loss']) ?? NaN, trainAcc: num(e['train_acc']) ?? NaN, testLoss: num(e['test_loss']) ?? NaN, testAcc: num(e['test_acc']) ?? NaN, trainMetrics: numbers(e['train_metrics']), testMetrics: numbers(e['test_metrics']) });
    } else if (kind === 'oom' || kind === 'restart' || kind === 'skipped' || kind === 'membership' || kind === 'resume' || kind === 'stopped') {
      markers.push({ kind, step: step ?? lastStep, t: at(e), text: markerText(e) });
    }
  }
  const stepList = [...steps.values()].sort((a, b) => a.step - b.step);
  if (files.metrics !== null && stepList.length === 0) notes.push('metrics.jsonl has no step events: the run stopped before its first step, so there is nothing to plot');

  const s = summary ?? {};
  const count = (k: string) => events.filter((e) => e['event'] === k).length;
  const workers = list(lastStart?.['workers']).map(obj);
  const backend = str(s['backend']) ?? str(workers[0]?.['backend']) ?? str(config?.['backend']);
  const final: Final = {
    status: str(s['status']) ?? 'unknown (no summary.json)',
    error: str(s['error']),
    backend,
    worldSize: num(s['workers']) ?? (workers.length > 0 ? workers.length : null),
    globalBatch: num(s['global_batch']) ?? num(lastStart?.['global_batch']),
    steps: num(s['steps']) ?? (stepList.at(-1)?.step ?? null),
    epochs: num(s['epochs']) ?? num(config?.['epochs']),
    epochsCompleted: num(s['epochs_completed']),
    trainLoss: num(s['train_loss']) ?? (stepList.at(-1)?.loss ?? null),
    testAcc: num(s['test_acc']) ?? (epochs.at(-1)?.testAcc ?? null),
    samplesPerS: num(s['samples_per_s']) ?? meanRate(stepList),
    wallS: num(s['wall_s']) ?? (events.length > 0 ? at(events.at(-1)!) : null),
    restarts: num(s['restarts']) ?? count('restart'),
    oomEvents: num(s['oom_events']) ?? count('oom'),
    skippedSteps: num(s['skipped_steps']) ?? count('skipped'),
  };

  // The ranks at the end: summary.json's (an elastic run may have changed them), else the last start's.
  const plans = list(s['batch_plan']).length > 0 ? list(s['batch_plan']) : list([...events].reverse().find((e) => e['event'] === 'membership' || e['event'] === 'start')?.['batch_plan']);
  const fits = list(s['memory_fit_per_rank']);
  const adapters = list(s['adapter_per_rank']);
  const n = final.worldSize ?? Math.max(workers.length, plans.length);
  const ranks: RankRow[] = Array.from({ length: n }, (_, rank) => {
    const w = workers[rank] ?? null;
    const fit = workerFitFromJson(w);
    return {
      rank,
      host: str(w?.['host']),
      pid: num(w?.['pid']),
      device: deviceOf((obj(adapters[rank]) ?? obj(w?.['adapter'])) as GpuAdapterReport | null, w, backend),
      capacity: fit.microBatch,
      plan: (obj(plans[rank]) as RankPlan | null) ?? null,
      memoryFit: memoryFitFromJson(fits[rank]) ?? fit.memoryFit,
    };
  });

  return {
    path: files.path,
    notes,
    startTime: t0 === null ? null : new Date(t0).toISOString(),
    config,
    final,
    ranks,
    steps: stepList,
    epochs,
    breakdown: breakdown(stepList),
    markers,
    files: Object.entries({ 'config.json': files.config !== null, 'metrics.jsonl': files.metrics !== null, 'summary.json': files.summary !== null, ...files.present }).map(([name, present]) => ({ name, present })),
  };
}

function meanRate(steps: readonly StepPoint[]): number | null {
  const ms = steps.reduce((a, p) => a + p.ms, 0);
  return ms > 0 ? (steps.reduce((a, p) => a + p.samples, 0) * 1000) / ms : null;
}

/** Each rank's step time split into data, compute, all-reduce, apply and waiting for the slowest rank. */
export function breakdown(steps: readonly StepPoint[]): RankBreakdown[] {
  const byRank = new Map<number, RankBreakdown>();
  for (const p of steps) {
    for (const t of p.timings) {
      const r = byRank.get(t.rank) ?? { rank: t.rank, steps: [], dataMs: [], computeMs: [], allreduceMs: [], applyMs: [], waitMs: [] };
      byRank.set(t.rank, r);
      const { dataMs: d, computeMs: c, allreduceMs: a, applyMs: ap } = t;
      r.steps.push(p.step);
      r.dataMs.push(d);
      r.computeMs.push(c);
      r.allreduceMs.push(a);
      r.applyMs.push(ap);
      r.waitMs.push(Math.max(0, p.ms - d - c - a - ap));
    }
  }
  return [...byRank.values()].sort((a, b) => a.rank - b.rank);
}
