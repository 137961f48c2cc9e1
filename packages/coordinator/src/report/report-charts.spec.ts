// Specs of chartSpecs (report-charts.ts): what each chart of report.html draws.
import { describe, expect, it } from 'vitest';
import { fixtureFiles } from './fixture';
import { chartSpecs } from './report-charts';
import { reportData } from './report-data';

describe('chartSpecs', () => {
  const charts = chartSpecs(reportData(fixtureFiles()));
  const byId = new Map(charts.map((c) => [c.id, c]));

  it('draws loss and accuracy per step, with the per-epoch figures at the epoch\'s last step', () => {
    expect(charts.map((c) => c.id)).toEqual(['loss', 'accuracy', 'throughput', 'rank-0', 'rank-1']);
    const loss = byId.get('loss')!;
    expect(loss.x).toEqual([1, 2, 3]);
    expect(loss.series.map((s) => s.values)).toEqual([
      [2.3, 2.1, 1.8],
      [null, 2.2, null],
      [null, 2.0, null],
    ]);
    expect(byId.get('accuracy')!.series[2]!.values).toEqual([null, 0.25, null]);
    expect(loss.markers.map((m) => [m.kind, m.x])).toEqual([['oom', 2], ['restart', 3], ['resume', 2], ['stopped', 3]]);
  });

  it('plots samples/s against seconds since the start, with the markers at their times', () => {
    const t = byId.get('throughput')!;
    expect(t.x).toEqual([1, 3, 12]);
    expect(t.series[0]!.values).toEqual([200, 266, 177]);
    expect(t.markers.map((m) => m.x)).toEqual([2, 5, 10, 13]);
  });

  it('stacks each rank\'s breakdown up to the step time, top part first, the legend showing each part', () => {
    const r0 = byId.get('rank-0')!;
    expect(r0.series.map((s) => s.label)).toEqual(['waiting for the slowest rank', 'apply', 'all-reduce', 'compute', 'data']);
    expect(r0.series[0]!.values).toEqual([80, 60, 90]); // the whole step
    expect(r0.series[4]!.values).toEqual([5, 5, 5]);
    expect(r0.series[0]!.raw).toEqual([23, 3, 33]);
  });

  it("draws one chart per metric of the task's own, named as the task names it", () => {
    const metrics = [
      { event: 'step', epoch: 1, step: 1, loss: 2, acc: 0.1, metrics: { mae: 0.5 }, samples: 8, ms: 10, samples_per_s: 800 },
      { event: 'step', epoch: 1, step: 2, loss: 1, acc: 0.2, metrics: { mae: 0.25 }, samples: 8, ms: 10, samples_per_s: 800 },
      { event: 'epoch', epoch: 1, train_loss: 1.5, train_acc: 0.15, train_metrics: { mae: 0.375 }, test_loss: 1, test_acc: 0.2, test_metrics: { mae: 0.3 } },
    ];
    const c = chartSpecs(reportData({ ...fixtureFiles(), metrics: metrics.map((m) => JSON.stringify(m)).join('\n') }));
    const mae = c.find((x) => x.id === 'metric-mae')!;
    expect(mae.title).toBe('mae');
    expect(mae.series.map((s) => [s.label, s.values])).toEqual([
      ['train mae (step)', [0.5, 0.25]],
      ['train mae (epoch)', [null, 0.375]],
      ['test mae (epoch)', [null, 0.3]],
    ]);
  });

  it('draws empty charts (no x values) for a run without steps', () => {
    const empty = chartSpecs(reportData({ ...fixtureFiles(), metrics: '' }));
    expect(empty.map((c) => [c.id, c.x.length])).toEqual([['loss', 0], ['accuracy', 0], ['throughput', 0]]);
  });
});
