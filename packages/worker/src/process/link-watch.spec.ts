import { describe, expect, it } from 'vitest';
import { judgeLink, LINK_GRACE_MS, watchLinks, type LinkLook } from './link-watch';
import type { LinkState, RingChannel } from '@tfjs-ddp/core';

const look = (start: LinkState, now: LinkState, downSince: number | null = null): LinkLook => ({
  start,
  now,
  downSince,
});

describe('judgeLink: whether a ring link failed during an all-reduce', () => {
  it.each([
    ['up all along', look({ up: 1, drops: 0 }, { up: 1, drops: 0 }), 10_000, null],
    [
      'dropped and already back (frames in flight are lost)',
      look({ up: 1, drops: 2 }, { up: 1, drops: 3 }),
      0,
      /dropped during the all-reduce/,
    ],
    ['dropped twice', look({ up: 1, drops: 0 }, { up: 0, drops: 2 }), 0, /\(2 times\)/],
    [
      'down since the start, not yet for the grace',
      look({ up: 0, drops: 0 }, { up: 0, drops: 0 }, 0),
      LINK_GRACE_MS - 1,
      null,
    ],
    [
      'down for the grace',
      look({ up: 0, drops: 0 }, { up: 0, drops: 0 }, 0),
      LINK_GRACE_MS,
      /no connection for 3 s/,
    ],
  ])('%s', (_, l, t, verdict) => {
    const cause = judgeLink(l, t);
    if (verdict === null) expect(cause).toBeNull();
    else expect(cause).toMatch(verdict);
  });

  it('starts the grace when it first sees the link down, and forgets it once the link is up', () => {
    const l = look({ up: 1, drops: 0 }, { up: 0, drops: 0 });
    expect(judgeLink(l, 500)).toBeNull();
    expect(l.downSince).toBe(500);
    l.now = { up: 1, drops: 0 };
    expect(judgeLink(l, 600)).toBeNull();
    expect(l.downSince).toBeNull();
  });
});

describe('watchLinks', () => {
  it('says once which side failed, naming the peer; a ring without links is not watched', async () => {
    let right: LinkState = { up: 1, drops: 0 };
    const ch = {
      rank: 1,
      worldSize: 3,
      left: { links: () => ({ up: 1, drops: 0 }) },
      right: { links: () => right },
    } as unknown as RingChannel;
    const said: unknown[] = [];
    const w = watchLinks(ch, (l) => said.push(l), { lookMs: 5 });
    right = { up: 1, drops: 1 };
    await new Promise((r) => setTimeout(r, 40));
    expect(w.stop()).toEqual({
      side: 'right',
      peer: 2,
      cause: expect.stringMatching(/^the ring link to rank 2: its connection dropped/),
    });
    expect(said).toHaveLength(1);
    const none = watchLinks({ rank: 0, worldSize: 2, left: {}, right: {} } as unknown as RingChannel, () =>
      said.push('x'),
    );
    expect(none.stop(true)).toBeNull();
  });
});
