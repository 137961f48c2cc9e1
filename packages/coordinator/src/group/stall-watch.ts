// What a step's wait watches besides the replies: ranks gone silent (policy/liveness.ts), ranks
// stalled past the step timeout (the stall inspector's probe) and ring links the ranks said failed
// (link-reports.ts). It decides from the observations ControlIo keeps and throws what ends the wait;
// its only I/O is the probe, through ControlIo.
import type { LostRank } from '../policy/failure-policy';
import { judgeSilence, whereSeen, type SilenceWatch } from '../policy/liveness';
import type { ControlIo, WaitWatch } from './control-io';
import { now, type Reply } from './group-options';
import { LinkReports } from './link-reports';
import { LinkFailed, RanksLost } from './wait-errors';

/** How long ranks that have not finished a step get to answer a probe before they count as stalled. */
const PROBE_MS = 5_000;

export class StallWatch implements WaitWatch {
  /** Ring links the ranks said failed (worker link-watch.ts), until the ring is rebuilt. */
  readonly linkReports = new LinkReports();
  /** The work whose all-reduce the link reports are judged for: a step, or minus a collective's number. */
  tag: number | null = null;
  /** The step being waited for, when the silence of ranks may be judged (a first try, at a known micro-batch size). */
  silence: SilenceWatch | null = null;
  /** Per rank, the longest a micro-batch of its last finished step took (ms), and at which micro-batch size. */
  readonly microBatchMs = new Map<number, { ms: number; microBatch: number }>();

  constructor(private readonly io: ControlIo) {}

  async during(got: Map<number, Reply>, ranks: number[]): Promise<void> {
    const silent = this.silentRanks(ranks.filter((r) => !got.has(r)));
    if (silent.length > 0) throw new RanksLost(silent, got);
    const lastSeen = (r: number) => this.io.lastSeen.get(r)?.at ?? -Infinity;
    const a = this.tag === null ? null : this.linkReports.next(this.tag, now(), lastSeen);
    if (a?.kind === 'probe') for (const r of a.ranks) await this.io.sendTo(r, { type: 'probe' }).catch(() => undefined);
    if (a?.kind === 'cut') {
      const ends = [a.from, a.to].map((r) => ({ rank: r, pid: this.io.roster.description(r).pid, host: this.io.roster.description(r).host }));
      throw new LinkFailed({ from: a.from, to: a.to, ends, cause: a.cause, reportedBy: a.reportedBy }, got);
    }
  }

  /**
   * Ranks that have answered no ping for longer than their allowance since the wait began: lost.
   * Judged only on a step's first try, for ranks whose micro-batch time at this size is known.
   */
  private silentRanks(missing: number[]): LostRank[] {
    const w = this.silence;
    if (w === null) return [];
    const t = now();
    const v = judgeSilence({ watch: w, t, missing, lastSeen: this.io.lastSeen, microBatchMs: this.microBatchMs });
    w.lastLook = t;
    if (v.kind === 'paused') {
      // This process was not running (stopped with its workers, a suspended machine, a long pause):
      // the pings that came meanwhile are still queued. Every rank gets its allowance again from now.
      w.since = t;
      for (const seen of this.io.lastSeen.values()) seen.at = Math.max(seen.at, t);
      this.io.o.log.warn({ pausedMs: Math.round(v.awayMs), step: this.io.currentStep }, 'the coordinator was paused: silence is judged again from now');
      return [];
    }
    return v.lost.map((l) => this.io.lostRank(l.rank, l.cause));
  }

  /**
   * The stall inspector: probes the ranks that have not finished after the step timeout. A live
   * worker answers at once, whatever it waits for; the ones that do not answer within PROBE_MS are
   * stalled (stopped, deadlocked, stuck in a computation past the timeout), named with where they
   * were last seen.
   */
  async stalled(missing: number[], waitedMs: number): Promise<LostRank[]> {
    const asked = now();
    for (const r of missing) await this.io.sendTo(r, { type: 'probe' }).catch(() => undefined);
    const answered = new Set<number>();
    while (now() - asked < PROBE_MS && answered.size < missing.length) {
      await this.io.receiveInto(PROBE_MS - (now() - asked));
      for (const r of missing) if ((this.io.lastSeen.get(r)?.at ?? 0) >= asked) answered.add(r);
    }
    return missing
      .filter((r) => !answered.has(r))
      .map((r) => {
        const seen = this.io.lastSeen.get(r);
        const where = seen === undefined ? 'never reported progress' : `was last seen ${whereSeen(seen)} ${Math.round((now() - seen.at) / 1000)} s ago`;
        return this.io.lostRank(r, `stalled: no reply after ${Math.round(waitedMs / 1000)} s and none to a probe; it ${where}`);
      });
  }
}
