import { describe, expect, it } from 'vitest';
import type { TraceSpan } from '@tfjs-ddp/core';
import { stepSpans, type StepMoments } from './step-spans';

const micro = (from: number, n: number, ms: number): TraceSpan[] =>
  Array.from({ length: n }, (_, i) => {
    const t0 = from + i * ms;
    return [
      { name: 'micro-batch', start: t0, end: t0 + ms - 1, args: { micro_batch: i + 1, samples: 16 } },
      { name: 'data', start: t0, end: t0 + 2 },
      { name: 'forward+backward', start: t0 + 2, end: t0 + ms - 1 },
    ];
  }).flat();

const moments = (over: Partial<StepMoments> = {}): StepMoments => ({
  step: 7,
  attempt: 0,
  samples: 32,
  microBatch: 16,
  left: 1,
  bytes: 4096,
  idleSince: 90,
  received: 100,
  micro: micro(101, 2, 50),
  t0: 201,
  ring: { start: 201.5, firstChunk: 230, reduceScatterEnd: 240, end: 250 },
  t1: 251,
  t2: 260,
  checksum: true,
  doneAt: 262,
  ...over,
});

/** The spans back on performance.now() ms (stepSpans adds performance.timeOrigin). */
const local = (spans: TraceSpan[]) => spans.map((s) => ({ ...s, start: s.start - performance.timeOrigin, end: s.end - performance.timeOrigin }));
const within = (c: TraceSpan, p: TraceSpan) => c.start >= p.start - 1e-6 && c.end <= p.end + 1e-6;

describe('stepSpans', () => {
  it('puts the idle time first, then the step with its micro-batches, all-reduce phases, update and checksum nested in order', () => {
    const s = local(stepSpans(moments()));
    expect(s.map((x) => x.name)).toEqual([
      'idle',
      'step 7',
      'micro-batch', 'data', 'forward+backward',
      'micro-batch', 'data', 'forward+backward',
      'all-reduce', 'reduce-scatter', 'wait for rank 1', 'all-gather',
      'apply', 'checksum',
    ]);
    const [idle, step] = s;
    expect(idle).toMatchObject({ start: 90, end: 100 });
    expect(step).toMatchObject({ start: 100, end: 262, args: { step: 7, attempt: 0, samples: 32, micro_batch: 16 } });
    for (const x of s.slice(2)) expect(within(x, step!)).toBe(true);
    const ar = s.find((x) => x.name === 'all-reduce')!;
    const rs = s.find((x) => x.name === 'reduce-scatter')!;
    const ag = s.find((x) => x.name === 'all-gather')!;
    const wait = s.find((x) => x.name.startsWith('wait'))!;
    expect(within(rs, ar) && within(ag, ar) && within(wait, rs)).toBe(true);
    expect(rs.end).toBeLessThanOrEqual(ag.start);
    expect(wait).toMatchObject({ start: 201.5, end: 230 });
    expect(ar.args).toEqual({ bytes: 4096 });
  });

  it('clamps the ring times into the all-reduce call (they are another clock reading)', () => {
    const s = local(stepSpans(moments({ ring: { start: 200.9, firstChunk: 230, reduceScatterEnd: 240, end: 251.2 } })));
    const ar = s.find((x) => x.name === 'all-reduce')!;
    for (const n of ['reduce-scatter', 'all-gather', 'wait for rank 1']) expect(within(s.find((x) => x.name === n)!, ar)).toBe(true);
  });

  it('has no ring phases with one rank, no idle span before the first request and no checksum when none was asked', () => {
    const names = stepSpans(moments({ ring: null, idleSince: null, checksum: false })).map((x) => x.name);
    expect(names).not.toContain('reduce-scatter');
    expect(names).not.toContain('idle');
    expect(names).not.toContain('checksum');
    expect(names).toContain('all-reduce');
  });
  it('puts an audit step\'s recomputation between the micro-batches and the all-reduce', () => {
    const s = local(stepSpans(moments({ audit: { rank: 2, start: 201, end: 240 }, t0: 241, ring: null, t1: 251 })));
    expect(s.map((x) => x.name).slice(8, 10)).toEqual(['audit', 'all-reduce']);
    expect(s[8]).toMatchObject({ start: 201, end: 240, args: { recomputed_rank: 2 } });
  });
});
