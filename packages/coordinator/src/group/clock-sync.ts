// Each worker process's clock offset, for the timeline (--timeline): measured once per process when
// it joins, and applied to every span it sends so that all ranks' spans share this process's trace
// clock.
import { traceClock, type TraceSpan, type WorkerToCoordinator } from '@tfjs-ddp/core';
import type { ControlIo } from './control-io';

/** Round trips per worker when its clock offset is measured; the one with the shortest counts. */
const CLOCK_ROUNDS = 8;

export class ClockSync {
  /** Per worker process (its control-plane peer): its trace clock minus ours, in ms, and the round trip it was measured in. */
  private readonly clocks = new Map<string, { offsetMs: number; rttMs: number }>();

  constructor(private readonly io: ControlIo) {}

  /**
   * The clock offset of each of `ranks` not measured yet (a new process), when the run writes a
   * timeline: a few 'clock' round trips, NTP-style, keeping the shortest (its midpoint is closest to
   * the worker's reading). On one host the offset is a fraction of a millisecond; across hosts it is
   * what NTP leaves, and each span is moved by it.
   */
  async measure(ranks: number[]): Promise<void> {
    const { io } = this;
    if (io.o.trace === undefined) return;
    for (const r of ranks) {
      const peer = io.roster.peers[r]!;
      if (this.clocks.has(peer)) continue;
      let best: { offsetMs: number; rttMs: number } | null = null;
      for (let k = 0; k < CLOCK_ROUNDS; k++) {
        const t0 = traceClock();
        await io.sendTo(r, { type: 'clock' });
        const reply = (await io.collect('clock', [r], io.o.rendezvousTimeoutMs)).get(r)!.msg as Extract<WorkerToCoordinator, { type: 'clock' }>;
        const t1 = traceClock();
        const sample = { offsetMs: reply.now - (t0 + t1) / 2, rttMs: t1 - t0 };
        if (best === null || sample.rttMs < best.rttMs) best = sample;
      }
      this.clocks.set(peer, best!);
      const d = io.roster.descriptions[r];
      io.o.log.info({ rank: r, pid: d?.pid, host: d?.host, clockOffsetMs: best!.offsetMs, roundTripMs: best!.rttMs }, 'clock offset measured for the timeline');
    }
  }

  /** A rank's spans (its trace clock) to the timeline, on ours. */
  traceFrom(rank: number, spans: TraceSpan[] | undefined): void {
    const sink = this.io.o.trace;
    if (sink === undefined || spans === undefined || spans.length === 0) return;
    const clock = this.clocks.get(this.io.roster.peers[rank]!) ?? { offsetMs: 0, rttMs: Number.NaN };
    const d = this.io.roster.description(rank);
    sink(rank, spans.map((s) => ({ ...s, start: s.start - clock.offsetMs, end: s.end - clock.offsetMs })), { pid: d.pid, host: d.host, clockOffsetMs: clock.offsetMs });
  }
}
