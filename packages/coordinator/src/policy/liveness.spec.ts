import { describe, expect, it } from 'vitest';
import { judgeSilence, PAUSED_MS, SILENCE_MS, whereSeen, type SilenceInput } from './liveness';

/** A wait that began at t = 0 for step 4, ranks 0 and 1 at micro-batch 32, rank 1's micro-batch known to take `ms`. */
function input(
  t: number,
  o: { ms?: number; seenAt?: number; lastLook?: number; microBatchNow?: number } = {},
): SilenceInput {
  return {
    watch: {
      since: 0,
      lastLook: o.lastLook ?? t - 200,
      microBatch: new Map([
        [0, 32],
        [1, o.microBatchNow ?? 32],
      ]),
    },
    t,
    missing: [1],
    lastSeen: new Map(
      o.seenAt === undefined ? [] : [[1, { step: 4, phase: 'compute' as const, at: o.seenAt }]],
    ),
    microBatchMs: new Map([[1, { ms: o.ms ?? 500, microBatch: 32 }]]),
  };
}

describe('judgeSilence: which ranks are lost to silence during a step', () => {
  it.each([
    ['quiet just under 10 s', input(SILENCE_MS - 1), []],
    ['quiet just over 10 s', input(SILENCE_MS + 1), [1]],
    ['quiet 11 s but seen 2 s ago', input(11_000, { seenAt: 9_000 }), []],
    ['quiet 12 s, micro-batches of 5 s (allowance 15 s)', input(12_000, { ms: 5_000 }), []],
    ['quiet 16 s, micro-batches of 5 s', input(16_000, { ms: 5_000 }), [1]],
    ['micro-batch time unknown at this size (backed off to 16)', input(60_000, { microBatchNow: 16 }), []],
  ])('%s', (_, x, lost) => {
    const v = judgeSilence(x);
    expect(v.kind).toBe('silent');
    expect(v.kind === 'silent' ? v.lost.map((l) => l.rank) : null).toEqual(lost);
  });

  it('says where a silent rank was last seen, in whole seconds', () => {
    const v = judgeSilence(input(12_400, { seenAt: 0 }));
    expect(v).toEqual({
      kind: 'silent',
      lost: [
        {
          rank: 1,
          cause:
            "went silent: no answer to the coordinator's pings for 12 s; it was last seen in compute of step 4",
        },
      ],
    });
  });

  it('judges nothing after a gap in its own looks (the coordinator was paused): silence it did not watch is no evidence', () => {
    expect(judgeSilence(input(60_000, { lastLook: 60_000 - PAUSED_MS - 1 }))).toEqual({
      kind: 'paused',
      awayMs: PAUSED_MS + 1,
    });
    expect(judgeSilence(input(60_000, { lastLook: 60_000 - PAUSED_MS })).kind).toBe('silent');
  });

  it('words where a rank was', () => {
    expect(whereSeen({ step: 3, phase: 'idle' })).toBe('idle after step 3');
    expect(whereSeen({ step: 4, phase: 'allreduce' })).toBe('in allreduce of step 4');
  });
});
