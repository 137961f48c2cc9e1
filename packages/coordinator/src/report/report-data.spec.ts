// Specs of reportData (report-data.ts): the report's model from a run directory's file texts.
import { describe, expect, it } from 'vitest';
import { fixtureFiles, METRICS, SUMMARY } from './fixture';
import { breakdown, reportData } from './report-data';

describe('reportData', () => {
  it('keeps one point per step, the last logged (a resume re-logs the steps after its checkpoint)', () => {
    const d = reportData(fixtureFiles());
    expect(d.steps.map((p) => [p.step, p.loss, p.t])).toEqual([
      [1, 2.3, 1],
      [2, 2.1, 3],
      [3, 1.8, 12],
    ]);
    expect(d.startTime).toBe('2026-01-02T03:04:05.000Z');
  });

  it('places each epoch at its last step and turns events into markers on the step and time axes', () => {
    const d = reportData(fixtureFiles());
    expect(d.epochs).toEqual([{ epoch: 1, step: 2, trainLoss: 2.2, trainAcc: 0.15, testLoss: 2.0, testAcc: 0.25, trainMetrics: {}, testMetrics: {} }]);
    expect(d.markers.map((m) => [m.kind, m.step, m.t])).toEqual([
      ['oom', 2, 2],
      ['restart', 3, 5],
      ['resume', 2, 10],
      ['stopped', 3, 13],
    ]);
    expect(d.markers[0]!.text).toBe('rank 1: micro-batch 8 → 4 (accumulation 2): injected');
    expect(d.markers[2]!.text).toBe('from step-00000002 on 2 workers (were 2)');
  });

  it('names a half-written last line of metrics.jsonl and takes the figures from summary.json', () => {
    const d = reportData(fixtureFiles());
    expect(d.notes).toEqual(['metrics.jsonl has 1 unreadable line (skipped)']);
    expect(d.final).toMatchObject({ status: 'interrupted', backend: 'wasm', worldSize: 2, globalBatch: 16, steps: 3, testAcc: 0.25, samplesPerS: 210, restarts: 1, oomEvents: 1, skippedSteps: 0 });
    expect(d.ranks.map((r) => [r.rank, r.device, r.capacity, r.plan?.samples, r.memoryFit?.trials.length])).toEqual([
      [0, 'wasm on cpu', 16, 8, 2],
      [1, 'wasm on cpu', 16, 8, 2],
    ]);
  });

  it('without summary.json, counts the events and derives the figures from metrics.jsonl', () => {
    const d = reportData(fixtureFiles(['summary']));
    expect(d.notes[1]).toMatch(/^summary.json is missing: the run is still going, or was killed/);
    expect(d.final).toMatchObject({ status: 'unknown (no summary.json)', backend: 'wasm', worldSize: 2, steps: 3, testAcc: 0.25, restarts: 1, oomEvents: 1, wallS: 13 });
    expect(d.final.samplesPerS).toBeCloseTo((48 * 1000) / 230);
  });

  it('says what is missing when a run failed before its first step', () => {
    const files = { ...fixtureFiles(['summary']), metrics: '' };
    const d = reportData({ ...files, summary: JSON.stringify({ status: 'failed', workers: 0, error: 'E_DATA_NOT_FOUND: no data' }) });
    expect(d.notes).toEqual(['metrics.jsonl has no step events: the run stopped before its first step, so there is nothing to plot']);
    expect(d.final).toMatchObject({ status: 'failed', error: 'E_DATA_NOT_FOUND: no data', worldSize: 0 });
    expect(d.ranks).toEqual([]);
    const none = reportData(fixtureFiles(['config', 'metrics', 'summary']));
    expect(none.notes.map((n) => n.split(':')[0])).toEqual(['config.json is missing', 'metrics.jsonl is missing', 'summary.json is missing']);
    expect(none.files.filter((f) => !f.present).map((f) => f.name)).toEqual(['config.json', 'metrics.jsonl', 'summary.json']);
  });

  it('reads a run written before the nested records were snake_case (camelCase timings, workers, memory-fit reports) the same', () => {
    const camel = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(camel) : typeof v === 'object' && v !== null ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), camel(x)])) : v;
    const old = METRICS.map((e) => ({ ...e, ...('timings' in e ? { timings: camel(e.timings) } : {}), ...('workers' in e && Array.isArray(e.workers) ? { workers: camel(e.workers) } : {}) }));
    expect(JSON.stringify(old)).toContain('"allreduceMs":10');
    expect(JSON.stringify(old)).toContain('"memoryFit":{"budgetBytes"');
    const files = fixtureFiles();
    const was = { ...files, metrics: old.map((e) => JSON.stringify(e)).join('\n'), summary: JSON.stringify({ ...SUMMARY, memory_fit_per_rank: camel(SUMMARY.memory_fit_per_rank) }) };
    const [a, b] = [reportData(files), reportData(was)];
    expect(b.ranks).toEqual(a.ranks);
    expect(b.steps).toEqual(a.steps);
    expect(breakdown(b.steps)).toEqual(breakdown(a.steps));
    expect(a.ranks[0]!.memoryFit).toMatchObject({ budgetBytes: 4 * 2 ** 30, searchMs: 2500, trials: [{ microBatch: 8, peakBytes: 2 ** 29, ran: true }, { microBatch: 16 }] });
    // Without summary.json, the start event's workers carry the reports.
    expect(reportData({ ...was, summary: null }).ranks.map((r) => [r.capacity, r.memoryFit?.usableBytes])).toEqual([
      [16, 3.8 * 2 ** 30],
      [16, 3.8 * 2 ** 30],
    ]);
  });
});

describe('breakdown', () => {
  it('splits each rank\'s step time and clamps the wait for the slowest rank at 0', () => {
    const [r0, r1] = breakdown(reportData(fixtureFiles()).steps);
    expect(r0).toMatchObject({ rank: 0, steps: [1, 2, 3], computeMs: [40, 40, 40], waitMs: [23, 3, 33] });
    // rank 1 at step 2: 6 + 70 + 4 + 3 = 83 ms of a 60 ms step (rounding, clocks): no negative wait.
    expect(r1).toMatchObject({ rank: 1, computeMs: [50, 70, 50], waitMs: [17, 0, 27] });
  });
});
