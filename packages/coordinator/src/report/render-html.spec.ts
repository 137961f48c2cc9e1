// Specs of renderReportHtml (render-html.ts): a self-contained page whose inlined code and data
// cannot end their <script> early; what it says of a complete and of an incomplete run.
import { nonSnakeCaseKeys } from '@tfjs-ddp/core';
import { describe, expect, it } from 'vitest';
import { fixtureFiles } from './fixture';
import { escapeInline, formatDuration, inlineJson, renderReportHtml } from './render-html';
import { reportData } from './report-data';

const assets = { uplotJs: 'var uPlot = function () { return "</script>" + "</SCRIPT >"; };', uplotCss: '.u-wrap { color: red }' };
const render = (files = fixtureFiles()) => renderReportHtml(reportData(files), assets, new Date('2026-01-03T00:00:00Z'));

describe('renderReportHtml', () => {
  it('escapes </script in inlined code and data: the page has exactly its own three scripts', () => {
    expect(escapeInline('a</script>b</Script')).toBe('a<\\/script>b<\\/Script');
    expect(JSON.parse(inlineJson({ s: '</script><!--' }))).toEqual({ s: '</script><!--' });
    const html = render();
    expect(html.match(/<script/gi)).toHaveLength(3);
    expect(html.match(/<\/script/gi)).toHaveLength(3);
    expect(html).not.toContain('<script>alert(1)');
    expect(html).toContain('&#60;/script&#62;&#60;script&#62;alert(1)'); // the config value, as text
  });

  it('loads nothing: no src, href or url() anywhere', () => {
    expect(render()).not.toMatch(/\s(src|href)=|url\(|<link|@import/i);
  });

  it('embeds the chart data the page draws', () => {
    const json = /<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(render())![1]!;
    const data = JSON.parse(json) as { charts: { id: string; x: number[]; x_label: string }[]; marker_style: Record<string, { letter: string }> };
    expect(data.charts.map((c) => [c.id, c.x.length])).toEqual([['loss', 3], ['accuracy', 3], ['throughput', 3], ['rank-0', 3], ['rank-1', 3]]);
    expect(data.charts[0]!.x_label).toBe('step');
    expect(data.marker_style['oom']!.letter).toBe('O');
    expect(nonSnakeCaseKeys(data)).toEqual([]);
  });

  it('shows the final figures, the batch plan, the memory-fit trials and the events', () => {
    const html = render();
    expect(html).toContain('<span class="status status-interrupted">interrupted</span>');
    expect(html).toContain('<dt>test accuracy</dt><dd>0.2500</dd>');
    expect(html).toContain('<td>8: 512.0 MiB, 16: 1.00 GiB</td>');
    expect(html).toContain('rank 1 (pid 101 → 102): was killed by SIGKILL');
    expect(html).not.toContain('Incomplete run directory</strong><ul><li>config');
  });

  it('says what is missing, and the error, for a run that failed before its first step', () => {
    const html = render({ ...fixtureFiles(['config']), metrics: '', summary: JSON.stringify({ status: 'failed', error: 'E_DATA_NOT_FOUND: no <data>' }) });
    expect(html).toContain('<div class="error"><strong>The run failed:</strong> E_DATA_NOT_FOUND: no &#60;data&#62;</div>');
    expect(html).toContain('<li>config.json is missing: the settings are unknown</li>');
    expect(html).toContain('<li>metrics.jsonl has no step events: the run stopped before its first step, so there is nothing to plot</li>');
    expect(html).toContain('No ranks are known');
  });

  it('formats durations as people read them', () => {
    expect([4.23, 824, 7380].map(formatDuration)).toEqual(['4.2 s', '13 min 44 s', '2 h 03 min']);
  });
});
