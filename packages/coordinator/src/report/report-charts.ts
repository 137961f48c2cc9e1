// The report's charts as plain data: x values, series and event markers per chart, built from the
// report's model (report-data.ts). Pure; render-html.ts embeds them as JSON and report-client.ts
// hands them to uPlot as they are, so what each chart draws is decided (and unit-tested) here.
import type { MarkerKind, ReportData } from './report-data';

export interface SeriesSpec {
  label: string;
  color: string;
  /** One per x (null: no value there). */
  values: (number | null)[];
  /** Draw dots only (per-epoch figures), not a line. */
  dots?: boolean;
  /** Fill down to the axis (stacked breakdown: each series is the running total up to it). */
  fill?: boolean;
  /** The value the legend shows, when `values` are stacked totals. */
  raw?: number[];
}

/** One chart as report.html embeds it (JSON, so snake_case keys like every document tfjs-ddp writes). */
export interface ChartSpec {
  id: string;
  title: string;
  x_label: string;
  y_label: string;
  x: number[];
  series: SeriesSpec[];
  markers: { x: number; kind: MarkerKind; text: string }[];
}

export const MARKER_STYLE: Record<MarkerKind, { color: string; letter: string; name: string }> = {
  oom: { color: '#d62728', letter: 'O', name: 'OOM back-off' },
  restart: { color: '#9467bd', letter: 'R', name: 'restart' },
  skipped: { color: '#ff7f0e', letter: 'S', name: 'skipped step' },
  membership: { color: '#17becf', letter: 'M', name: 'membership change' },
  resume: { color: '#2ca02c', letter: 'C', name: 'resume (continued)' },
  stopped: { color: '#7f7f7f', letter: 'X', name: 'stopped' },
};

/** The breakdown's parts, bottom to top, with their colours. */
export const PARTS = [
  ['dataMs', 'data', '#4e79a7'],
  ['computeMs', 'compute', '#f28e2b'],
  ['allreduceMs', 'all-reduce', '#59a14f'],
  ['applyMs', 'apply', '#b07aa1'],
  ['waitMs', 'waiting for the slowest rank', '#c9c3bf'],
] as const;

/** Every chart of the report: loss, accuracy, samples/s over time, and one step-time breakdown per rank. */
export function chartSpecs(data: ReportData): ChartSpec[] {
  const x = data.steps.map((p) => p.step);
  const at = new Map(x.map((s, i) => [s, i]));
  // Per-epoch figures sit at the epoch's last step, on the same axis as the per-step ones.
  const perEpoch = (pick: (e: ReportData['epochs'][number]) => number) => {
    const v: (number | null)[] = x.map(() => null);
    for (const e of data.epochs) {
      const i = at.get(e.step);
      if (i !== undefined) v[i] = finite(pick(e));
    }
    return v;
  };
  const stepMarkers = data.markers.map((m) => ({ x: m.step, kind: m.kind, text: m.text }));
  const timed = data.steps.filter((p) => p.t !== null).sort((a, b) => a.t! - b.t!);
  const charts: ChartSpec[] = [
    {
      id: 'loss',
      title: 'Loss',
      x_label: 'step',
      y_label: 'loss',
      x,
      series: [
        { label: 'train loss (step)', color: '#1f77b4', values: data.steps.map((p) => finite(p.loss)) },
        { label: 'train loss (epoch)', color: '#08306b', values: perEpoch((e) => e.trainLoss), dots: true },
        { label: 'test loss (epoch)', color: '#d62728', values: perEpoch((e) => e.testLoss), dots: true },
      ],
      markers: stepMarkers,
    },
    {
      id: 'accuracy',
      title: 'Accuracy',
      x_label: 'step',
      y_label: 'accuracy',
      x,
      series: [
        { label: 'train acc (step)', color: '#2ca02c', values: data.steps.map((p) => finite(p.acc)) },
        { label: 'train acc (epoch)', color: '#00441b', values: perEpoch((e) => e.trainAcc), dots: true },
        { label: 'test acc (epoch)', color: '#d62728', values: perEpoch((e) => e.testAcc), dots: true },
      ],
      markers: stepMarkers,
    },
    {
      id: 'throughput',
      title: 'Samples per second',
      x_label: 'seconds since the run started',
      y_label: 'samples/s',
      x: timed.map((p) => p.t!),
      series: [{ label: 'samples/s', color: '#9467bd', values: timed.map((p) => finite(p.samplesPerS)) }],
      markers: data.markers.filter((m) => m.t !== null).map((m) => ({ x: m.t!, kind: m.kind, text: m.text })),
    },
  ];
  // One chart per metric of the task's own (its model module's `metrics`), named as the task names it.
  const names = [...new Set([...data.steps.flatMap((p) => Object.keys(p.metrics)), ...data.epochs.flatMap((e) => [...Object.keys(e.trainMetrics), ...Object.keys(e.testMetrics)])])];
  for (const name of names) {
    charts.push({
      id: `metric-${name}`,
      title: name,
      x_label: 'step',
      y_label: name,
      x,
      series: [
        { label: `train ${name} (step)`, color: '#8c564b', values: data.steps.map((p) => finite(p.metrics[name] ?? NaN)) },
        { label: `train ${name} (epoch)`, color: '#3b1f18', values: perEpoch((e) => e.trainMetrics[name] ?? NaN), dots: true },
        { label: `test ${name} (epoch)`, color: '#d62728', values: perEpoch((e) => e.testMetrics[name] ?? NaN), dots: true },
      ],
      markers: stepMarkers,
    });
  }
  for (const b of data.breakdown) {
    // Stacked: drawn top part first, each filled to the axis, so the lower parts paint over it.
    let total = b.steps.map(() => 0);
    const stacked = PARTS.map(([key, label, color]) => {
      total = total.map((t, i) => t + b[key][i]!);
      return { label, color, values: total, fill: true, raw: b[key] };
    });
    charts.push({ id: `rank-${b.rank}`, title: `Step time of rank ${b.rank}`, x_label: 'step', y_label: 'ms', x: b.steps, series: stacked.reverse(), markers: stepMarkers });
  }
  return charts;
}

function finite(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}
