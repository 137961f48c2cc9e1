// The link watch of one all-reduce: while a rank waits on the ring, it reads its two ring sockets'
// connections (Inbox.links / Outbox.links) every LOOK_MS and says once when a link failed: it
// dropped during the all-reduce (a reset, or the kernel closed it: no answer for 5 s; frames in
// flight are lost and the all-reduce can never finish), or it has been down for LINK_GRACE_MS (a
// link that cannot be made again, e.g. a blackholed route). worker-process.ts sends that to the
// coordinator ('link-lost'), which rebuilds the ring and replays the step (docs/reliability.md).
import type { LinkState, RingChannel } from '@tfjs-ddp/core';

/** How often the sockets are read during an all-reduce. */
const LOOK_MS = 250;
/**
 * A link down this long during an all-reduce has failed. A ring connects before its 'ready' and
 * ZeroMQ reconnects a reset link within 100 ms, so a healthy link is never down this long.
 */
export const LINK_GRACE_MS = 3_000;

/** Which of the rank's two ring links failed, and how. */
export interface LinkLoss {
  side: 'left' | 'right';
  /** The rank at the other end. */
  peer: number;
  cause: string;
}

export interface LinkLook {
  /** The socket's state when the all-reduce began. */
  start: LinkState;
  now: LinkState;
  /** Since when (ms) the link has been down during this all-reduce; null while it is up. */
  downSince: number | null;
}

/**
 * Whether one link has failed, from two readings of its socket: the decision alone (table-tested);
 * `downSince` is updated in place. Null: it has not.
 */
export function judgeLink(look: LinkLook, t: number, graceMs = LINK_GRACE_MS): string | null {
  if (look.now.drops > look.start.drops) {
    const n = look.now.drops - look.start.drops;
    return `its connection dropped during the all-reduce${n > 1 ? ` (${n} times)` : ''}: reset, or closed by the kernel after 5 s without an answer`;
  }
  if (look.now.up > 0) {
    look.downSince = null;
    return null;
  }
  look.downSince ??= t;
  if (t - look.downSince < graceMs) return null;
  return `no connection for ${Math.round((t - look.downSince) / 1000)} s during the all-reduce`;
}

/**
 * Watches `ch`'s links until stop(); calls `onLoss` once, at the first failed link. stop(true)
 * looks a last time (an all-reduce that just failed on a reset link is explained by it); stop()
 * returns the loss, or null. Transports without links (in memory) are not watched.
 */
export function watchLinks(
  ch: RingChannel,
  onLoss: (l: LinkLoss) => void,
  o: { lookMs?: number; graceMs?: number } = {},
): { stop(lookAgain?: boolean): LinkLoss | null } {
  const n = ch.worldSize;
  const sides = [
    { side: 'left' as const, peer: (ch.rank + n - 1) % n, read: ch.left.links?.bind(ch.left) },
    { side: 'right' as const, peer: (ch.rank + 1) % n, read: ch.right.links?.bind(ch.right) },
  ].flatMap((s) => {
    if (s.read === undefined || n === 1) return [];
    const start = s.read();
    return [{ ...s, read: s.read, look: { start, now: start, downSince: null } as LinkLook }];
  });
  let loss: LinkLoss | null = null;
  const look = (): void => {
    if (loss !== null) return;
    const t = performance.now();
    for (const s of sides) {
      s.look.now = s.read();
      const cause = judgeLink(s.look, t, o.graceMs);
      if (cause === null) continue;
      loss = {
        side: s.side,
        peer: s.peer,
        cause: `the ring link ${s.side === 'left' ? `from rank ${s.peer}` : `to rank ${s.peer}`}: ${cause}`,
      };
      onLoss(loss);
      return;
    }
  };
  const timer = sides.length === 0 ? null : setInterval(look, o.lookMs ?? LOOK_MS);
  return {
    stop: (lookAgain = false) => {
      if (timer !== null) clearInterval(timer);
      if (lookAgain) look();
      return loss;
    },
  };
}
