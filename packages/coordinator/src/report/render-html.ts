// report.html from the report's model: one self-contained page (uPlot's script and stylesheet are
// inlined, the data is a JSON block), viewable without a network. Pure; write-report.ts passes in
// uPlot's files and writes the result. Tables are rendered here, charts by report-client.ts.
import { formatBytes } from '@tfjs-ddp/core';
import { CLIENT_JS } from './report-client';
import { chartSpecs, MARKER_STYLE, PARTS, type ChartSpec } from './report-charts';
import type { ReportData } from './report-data';
import { REPORT_CSS } from './report-css';

export interface ReportAssets {
  uplotJs: string;
  uplotCss: string;
}

/** Text for inside a <script> or <style>: no `</script` (or `</style`) can end it early. */
export function escapeInline(code: string): string {
  return code.replace(/<\/(script|style)/gi, '<\\/$1');
}

/** JSON for a <script type="application/json"> block: every `<` escaped, so no tag can close it. */
export function inlineJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const esc = (s: unknown): string => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const fixed = (v: number | null, digits: number) => (v === null ? '–' : v.toFixed(digits));

/** "4.2 s", "13 min 44 s", "2 h 03 min". */
export function formatDuration(s: number | null): string {
  if (s === null) return '–';
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(Math.round(s % 60)).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

function table(head: string[], rows: string[][], cls = ''): string {
  return `<table class="${cls}"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

function header(d: ReportData, generated: Date): string {
  const f = d.final;
  const status = f.status.split(' ')[0]!;
  const figures: [string, string][] = [
    ['status', esc(f.status)],
    ['steps', `${fixed(f.steps, 0)}${f.epochs === null ? '' : f.epochsCompleted === null ? ` <small>(${f.epochs} epochs planned)</small>` : ` <small>(${f.epochsCompleted} of ${f.epochs} epochs)</small>`}`],
    ['test accuracy', fixed(f.testAcc, 4)],
    ['train loss', fixed(f.trainLoss, 4)],
    ['samples/s', fixed(f.samplesPerS, 1)],
    ['wall time', formatDuration(f.wallS)],
    ['restarts', String(f.restarts)],
    ['OOM back-offs', String(f.oomEvents)],
    ['skipped steps', String(f.skippedSteps)],
    ['backend', esc(f.backend ?? '–')],
    ['world size', fixed(f.worldSize, 0)],
    ['global batch', fixed(f.globalBatch, 0)],
  ];
  const notes = d.notes.length === 0 ? '' : `<div class="notes" id="notes"><strong>Incomplete run directory</strong><ul>${d.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul></div>`;
  return `<header><h1>tfjs-ddp run <code>${esc(d.path.split('/').pop())}</code> <span class="status status-${esc(status)}">${esc(status)}</span></h1>
<p class="sub">${esc(d.path)} · started ${esc(d.startTime ?? 'unknown')} · report generated ${esc(generated.toISOString())}</p></header>
${f.error !== null ? `<div class="error"><strong>The run failed:</strong> ${esc(f.error)}</div>` : ''}${notes}
<dl class="figures">${figures.map(([k, v]) => `<div><dt>${k}</dt><dd>${v}</dd></div>`).join('')}</dl>`;
}

function ranks(d: ReportData): string {
  if (d.ranks.length === 0) return '<p class="empty">No ranks are known: the workers never joined.</p>';
  const rows = d.ranks.map((r) => [String(r.rank), esc(r.host ?? '–'), r.pid === null ? '–' : String(r.pid), esc(r.device), fixed(r.capacity, 0), fixed(r.plan?.samples ?? null, 0), fixed(r.plan?.micro_batch ?? null, 0), fixed(r.plan?.accumulation ?? null, 0)]);
  return table(['rank', 'host', 'pid', 'device', 'capacity', 'samples / step', 'micro-batch', 'accumulation'], rows, 'num');
}

function memoryFit(d: ReportData): string {
  const fits = d.ranks.filter((r) => r.memoryFit !== null);
  if (fits.length === 0) return '<p class="empty">No memory-fit search ran: the micro-batch was configured (or no worker joined).</p>';
  const rows = fits.map((r) => {
    const m = r.memoryFit!;
    const trials = m.trials.map((t) => `${t.microBatch}: ${t.peakBytes === null ? 'not run' : formatBytes(t.peakBytes)}${t.peakBytes !== null && t.peakBytes > m.usableBytes ? ' ✗' : ''}`).join(', ');
    const model = m.baseBytes === null || m.bytesPerSample === null ? '–' : `${formatBytes(m.baseBytes)} + ${formatBytes(m.bytesPerSample)} · n`;
    return [String(r.rank), formatBytes(m.budgetBytes), formatBytes(m.usableBytes), model, esc(trials), `${fixed(r.capacity, 0)}${m.capped ? ' (capped)' : ''}`, `${(m.searchMs / 1000).toFixed(1)} s`];
  });
  return table(['rank', 'budget', 'usable', 'footprint', 'trials (micro-batch: peak)', 'chosen', 'search'], rows);
}

function breakdownTable(d: ReportData): string {
  if (d.breakdown.length === 0) return '';
  const rows = d.breakdown.map((b) => {
    const means = PARTS.map(([key]) => b[key].reduce((a, v) => a + v, 0) / Math.max(1, b[key].length));
    const total = means.reduce((a, v) => a + v, 0);
    const bar = PARTS.map(([, label, color], i) => `<span title="${label}: ${means[i]!.toFixed(1)} ms" style="width:${total > 0 ? ((100 * means[i]!) / total).toFixed(2) : 0}%;background:${color}"></span>`).join('');
    return [String(b.rank), ...means.map((m) => m.toFixed(1)), total.toFixed(1), `<div class="bar">${bar}</div>`];
  });
  const hint = '<p class="hint">Waiting for the slowest rank = the step\'s time − the rank\'s data + compute + all-reduce + apply (at least 0). Means over the logged steps, in ms:</p>';
  return hint + table(['rank', ...PARTS.map(([, label, color]) => `<i class="swatch" style="background:${color}"></i>${label}`), 'step', 'share'], rows, 'num breakdown');
}

function markerLegend(): string {
  return `<p class="legend">${Object.values(MARKER_STYLE).map((s) => `<span><i class="tag" style="background:${s.color}">${s.letter}</i>${s.name}</span>`).join('')}</p>`;
}

function events(d: ReportData): string {
  if (d.markers.length === 0) return '<p class="empty">No OOM back-offs, restarts, skipped steps, membership changes, resumes or stops.</p>';
  const rows = d.markers.map((m) => [String(m.step), m.t === null ? '–' : `${m.t.toFixed(1)} s`, `<i class="tag" style="background:${MARKER_STYLE[m.kind].color}">${MARKER_STYLE[m.kind].letter}</i>${MARKER_STYLE[m.kind].name}`, esc(m.text)]);
  return table(['step', 'time', 'event', 'details'], rows);
}

function config(d: ReportData): string {
  if (d.config === null) return '<p class="empty">config.json is missing or unreadable.</p>';
  return `<dl class="config">${Object.entries(d.config).map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${esc(JSON.stringify(v))}</dd></div>`).join('')}</dl>`;
}

const chartBox = (c: ChartSpec) => `<figure><figcaption>${esc(c.title)}</figcaption><div class="chart" id="chart-${esc(c.id)}" data-chart="${esc(c.id)}"></div></figure>`;

/** The whole report.html for `data`, with uPlot from `assets`; `generated` is the time it names. */
export function renderReportHtml(data: ReportData, assets: ReportAssets, generated = new Date()): string {
  const charts = chartSpecs(data);
  const [main, perRank] = [charts.filter((c) => !c.id.startsWith('rank-')), charts.filter((c) => c.id.startsWith('rank-'))];
  const files = data.files.map((f) => `<li class="${f.present ? 'have' : 'miss'}">${f.present ? '✓' : '✗ missing:'} ${esc(f.name)}</li>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>tfjs-ddp report: ${esc(data.path.split('/').pop())}</title>
<style>${escapeInline(assets.uplotCss)}</style>
<style>${escapeInline(REPORT_CSS)}</style>
</head><body>
${header(data, generated)}
<h2>Ranks and batch plan</h2>${ranks(data)}
<h2>Training</h2>${markerLegend()}<div class="charts">${main.map(chartBox).join('')}</div>
<h2>Step time per rank</h2>${breakdownTable(data)}<div class="charts">${perRank.map(chartBox).join('')}</div>${perRank.length === 0 ? '<p class="empty">No step timings in metrics.jsonl.</p>' : ''}
<h2>Memory fit</h2>${memoryFit(data)}
<h2>Events</h2>${events(data)}
<h2>Config</h2>${config(data)}
<h2>Files</h2><ul class="files">${files}</ul>
<script type="application/json" id="report-data">${inlineJson({ charts, marker_style: MARKER_STYLE })}</script>
<script>${escapeInline(assets.uplotJs)}</script>
<script>${escapeInline(CLIENT_JS)}</script>
</body></html>
`;
}
