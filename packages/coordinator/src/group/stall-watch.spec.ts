import { decodeControl, encodeControl, type Client, type CoordinatorToWorker } from '@tfjs-ddp/core';
import { afterEach, describe, expect, it } from 'vitest';
import { closeSeated, seated, send } from './seated-io';
import { StallWatch } from './stall-watch';
import { LinkFailed, RanksLost } from './wait-errors';

afterEach(closeSeated);

/** A live worker's control loop, reduced to answering probes (with where it is) until `stop`. */
function answersProbes(c: Client, where: { step: number; phase: 'compute' | 'allreduce' }): () => void {
  let on = true;
  void (async () => {
    while (on) {
      const frames = await c.recv(50).catch(() => null);
      if (frames === null) continue;
      const m = decodeControl<CoordinatorToWorker>(frames).msg;
      if (m.type === 'probe') await c.send(encodeControl({ type: 'progress', ...where })).catch(() => undefined);
    }
  })();
  return () => (on = false);
}

/** A ControlIo of `ranks` ranks waiting on step 4, watched. */
async function watched(ranks: number) {
  const s = await seated(ranks);
  const watch = new StallWatch(s.io);
  s.io.watch = watch;
  s.io.phase = 'step';
  s.io.currentStep = 4;
  watch.tag = 4;
  return { ...s, watch };
}

describe('StallWatch: silence, stalls and failed links during a step’s wait', () => {
  it('loses a rank silent past its allowance, and only one whose micro-batch time at this size is known', async () => {
    const { io, watch } = await watched(2);
    const t = performance.now();
    watch.silence = { since: t - 20_000, lastLook: t, microBatch: new Map([[0, 8], [1, 8]]) };
    watch.microBatchMs.set(1, { ms: 100, microBatch: 8 });
    io.lastSeen.set(1, { step: 4, phase: 'compute', at: t - 20_000 });
    const e = await watch.during(new Map(), [0, 1]).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RanksLost);
    expect((e as RanksLost).lost).toEqual([expect.objectContaining({ rank: 1, pid: 1001, cause: expect.stringMatching(/^went silent: no answer to the coordinator's pings for 20 s; it was last seen in compute of step 4/) })]);
  });

  it('takes a long gap between two looks for its own pause: nobody is lost, silence is judged again from now', async () => {
    const { io, watch, warnings } = await watched(2);
    const t = performance.now();
    watch.silence = { since: t - 20_000, lastLook: t - 15_000, microBatch: new Map([[1, 8]]) };
    watch.microBatchMs.set(1, { ms: 100, microBatch: 8 });
    io.lastSeen.set(1, { step: 4, phase: 'compute', at: t - 20_000 });
    await watch.during(new Map(), [0, 1]);
    expect(warnings).toContain('the coordinator was paused: silence is judged again from now');
    expect(io.lastSeen.get(1)!.at).toBeGreaterThanOrEqual(t);
    expect(watch.silence.since).toBeGreaterThanOrEqual(t);
  });

  it('probes the ranks missing at the deadline: one that answers is alive, one that does not is stalled', async () => {
    const { clients, watch } = await watched(3);
    const stop = answersProbes(clients[1]!, { step: 4, phase: 'allreduce' });
    try {
      const stalled = await watch.stalled([1, 2], 7_000);
      expect(stalled.map((l) => [l.rank, l.cause])).toEqual([[2, 'stalled: no reply after 7 s and none to a probe; it never reported progress']]);
    } finally {
      stop();
    }
  }, 10_000);

  it('cuts a reported link only once both of its ends answered a probe sent after the report', async () => {
    const { io, clients } = await watched(2);
    const stops = clients.map((c) => answersProbes(c, { step: 4, phase: 'allreduce' }));
    try {
      await send(clients[0]!, { type: 'link-lost', step: 4, side: 'right', peer: 1, cause: 'ECONNRESET' });
      const e = await io.collect('step-done', [0, 1], 3_000, true).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(LinkFailed);
      expect((e as LinkFailed).cut).toEqual({ from: 0, to: 1, reportedBy: 0, cause: 'ECONNRESET', ends: [{ rank: 0, pid: 1000, host: 'spec' }, { rank: 1, pid: 1001, host: 'spec' }] });
    } finally {
      for (const s of stops) s();
    }
  });
});
