// Why a wait for the ranks' replies ended early, thrown from ControlIo.collect and caught by the
// group's step, collective or admission, which recover (recovery.ts, admission.ts).
import type { LinkCut } from '@tfjs-ddp/core';
import type { LostRank } from '../policy/failure-policy';
import type { Reply } from './group-options';

/** Thrown inside a step's wait when ranks were lost; step() catches it and recovers. */
export class RanksLost extends Error {
  constructor(
    readonly lost: LostRank[],
    /** The step's replies that had arrived. */
    readonly got: Map<number, Reply>,
  ) {
    super(`ranks ${lost.map((l) => l.rank).join(',')} lost`);
  }
}

/** Thrown inside a wait when a worker being taken in (an elastic join) failed before it was synced. */
export class JoinerLost extends Error {
  constructor(
    readonly rank: number,
    readonly reason: string,
  ) {
    super(`joining rank ${rank} lost: ${reason}`);
  }
}

/** Thrown inside a step's wait (or a collective's) when a ring link failed between two live ranks. */
export class LinkFailed extends Error {
  constructor(
    readonly cut: LinkCut,
    /** The replies that had arrived. */
    readonly got: Map<number, Reply>,
  ) {
    super(`ring link ${cut.from}→${cut.to} failed`);
  }
}
