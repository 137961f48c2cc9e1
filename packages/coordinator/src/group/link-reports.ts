// The coordinator's side of the link watch (worker link-watch.ts): a rank says a ring link failed
// during the all-reduce of a step (or a collective). Before the ring is rebuilt both ends must answer
// a probe sent after the report: a rank that died or stopped breaks its links too, and is left to the
// rules for lost ranks (its exit, or its silence), which replace it instead. Decide-then-act: next()
// says what to do, RemoteWorkerGroup does it.
import { DdpError, type LinkCut, type WorkerToCoordinator } from '@tfjs-ddp/core';

/**
 * Rebuilds of the ring in one step, in a row, after which a failing link ends the run (E_NETWORK):
 * a reset link comes back at once; one that fails 3 times in a row is not coming back soon.
 */
export const MAX_LINK_CUTS = 3;

/** How long the ends of a reported link get to answer a probe before they are asked again. */
const PROBE_AGAIN_MS = 5_000;

type LinkLost = Extract<WorkerToCoordinator, { type: 'link-lost' }>;

interface Report {
  rank: number;
  msg: LinkLost;
  probedAt: number | null;
}

export type LinkAction =
  | { kind: 'probe'; ranks: number[] }
  | { kind: 'cut'; from: number; to: number; reportedBy: number; cause: string }
  | null;

/** The link a report names, as the direction data flows: from → to. */
export function linkOf(rank: number, msg: LinkLost): { from: number; to: number } {
  return msg.side === 'left' ? { from: msg.peer, to: rank } : { from: rank, to: msg.peer };
}

export class LinkReports {
  private reports: Report[] = [];

  add(rank: number, msg: LinkLost): void {
    this.reports.push({ rank, msg, probedAt: null });
  }

  /** The ring was rebuilt (or a new step began): what was reported before is moot. */
  clear(): void {
    this.reports = [];
  }

  /**
   * What to do about the reports of the work tagged `tag` (a step, or minus a collective's number);
   * reports of other work are dropped. `answeredAt(rank)`: when the rank last answered (ms, the same
   * clock as `t`).
   */
  next(tag: number, t: number, answeredAt: (rank: number) => number): LinkAction {
    this.reports = this.reports.filter((r) => r.msg.step === tag);
    const r = this.reports[0];
    if (r === undefined) return null;
    const { from, to } = linkOf(r.rank, r.msg);
    if (r.probedAt !== null && answeredAt(from) >= r.probedAt && answeredAt(to) >= r.probedAt) {
      return { kind: 'cut', from, to, reportedBy: r.rank, cause: r.msg.cause };
    }
    if (r.probedAt !== null && t - r.probedAt < PROBE_AGAIN_MS) return null;
    r.probedAt = t;
    return { kind: 'probe', ranks: from === to ? [from] : [from, to] };
  }
}

/**
 * The error that ends the run when `cut` happened MAX_LINK_CUTS times in a row in step `step`
 * (`what`: 'step 41', 'the evaluation'), naming the link and its ends.
 */
export function linkGivenUp(
  cut: LinkCut,
  what: string,
  addressOf: (rank: number) => string | undefined,
): DdpError {
  const end = (rank: number) => {
    const e = cut.ends.find((x) => x.rank === rank);
    const address = addressOf(rank);
    return `rank ${rank} (pid ${e?.pid ?? '?'} on ${e?.host ?? '?'}${address !== undefined ? `, inbox ${address}` : ''})`;
  };
  return new DdpError(
    'E_NETWORK',
    `the ring link from ${end(cut.from)} to ${end(cut.to)} failed ${MAX_LINK_CUTS} times in a row in ${what} (the ring was rebuilt after each of the first ${MAX_LINK_CUTS - 1}); the last time, rank ${cut.reportedBy} said: ${cut.cause}`,
    "check the network between those hosts (a firewall, a route, an interface: the second's inbox address must be reachable from the first), then resume the run from its last checkpoint (--resume RUN_DIR)",
  );
}
