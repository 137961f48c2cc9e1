import { decodeControl, encodeControl, traceClock, type Client, type CoordinatorToWorker, type TraceSpan } from '@tfjs-ddp/core';
import { afterEach, describe, expect, it } from 'vitest';
import { ClockSync } from './clock-sync';
import { closeSeated, seated } from './seated-io';

afterEach(closeSeated);

/** A worker whose trace clock runs `aheadMs` ahead of ours: it answers 'clock' requests. */
function clockAhead(c: Client, aheadMs: number): { asked: () => number; stop: () => void } {
  let on = true;
  let asked = 0;
  void (async () => {
    while (on) {
      const frames = await c.recv(50).catch(() => null);
      if (frames === null || decodeControl<CoordinatorToWorker>(frames).msg.type !== 'clock') continue;
      asked++;
      await c.send(encodeControl({ type: 'clock', now: traceClock() + aheadMs }));
    }
  })();
  return { asked: () => asked, stop: () => (on = false) };
}

describe('ClockSync: each worker’s spans on the coordinator’s trace clock', () => {
  it('measures a worker’s offset once per process and moves its spans by it', async () => {
    const spans: { rank: number; spans: TraceSpan[]; offset: number }[] = [];
    const { io, clients } = await seated(2, { trace: (rank, s, who) => void spans.push({ rank, spans: s, offset: who.clockOffsetMs }) });
    const workers = [clockAhead(clients[0]!, 0), clockAhead(clients[1]!, 5_000)];
    try {
      const clocks = new ClockSync(io);
      await clocks.measure([0, 1]);
      await clocks.measure([1]);
      // Eight round trips each, once per process: the second measure asked nothing.
      expect(workers.map((w) => w.asked())).toEqual([8, 8]);
      const span = { name: 'compute', start: 10_000, end: 10_500 } as TraceSpan;
      clocks.traceFrom(1, [span]);
      clocks.traceFrom(0, []);
      expect(spans).toHaveLength(1);
      expect(spans[0]!.rank).toBe(1);
      expect(Math.abs(spans[0]!.offset - 5_000)).toBeLessThan(50);
      expect(spans[0]!.spans[0]!.start).toBeCloseTo(10_000 - spans[0]!.offset, 6);
      expect(spans[0]!.spans[0]!.end - spans[0]!.spans[0]!.start).toBe(500);
    } finally {
      for (const w of workers) w.stop();
    }
  });

  it('measures nothing when the run writes no timeline', async () => {
    const { io, clients } = await seated(1);
    await new ClockSync(io).measure([0]);
    await expect(clients[0]!.recv(200)).rejects.toThrow(/E_TIMEOUT/);
  });
});
