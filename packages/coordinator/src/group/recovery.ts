// Making the group whole after ranks were lost or a ring link failed: every survivor leaves the work
// in hand, lost ranks get new processes (local workers) or the survivors close ranks (elastic, on
// other hosts), the ring is rewired and one training state is everywhere again. Whether a loss may
// be recovered is the failure policy's decision (policy/failure-policy.ts); this acts on it.
import { DdpError, type LinkCut, type MembershipChange, type RestartRecord, type WorkerToCoordinator } from '@tfjs-ddp/core';
import { onRanksLost, type LostRank } from '../policy/failure-policy';
import type { ClockSync } from './clock-sync';
import type { ControlIo } from './control-io';
import { now, type Hello, type Reply } from './group-options';
import { linkGivenUp, MAX_LINK_CUTS } from './link-reports';
import { rewire } from './rendezvous';
import type { StallWatch } from './stall-watch';
import { syncFrom } from './state-sync';

export interface Regrouped {
  restarts: RestartRecord[];
  membership: MembershipChange | null;
  /** Ranks (numbered now) that had finished the step. */
  finished: number[];
  /** Each rank's previous number. */
  previousRank: number[];
}

export class Recovery {
  /** Ranks replaced so far, oldest first. */
  readonly history: RestartRecord[] = [];
  /** Each rank's micro-batch in the last step (after back-offs), for a replacement made outside a step. */
  readonly microBatchNow = new Map<number, number>();
  /** Ring rebuilds for failed links in a row, in the work named `what`. */
  private linkCutRun: { what: string; count: number } | null = null;

  constructor(
    private readonly io: ControlIo,
    private readonly watch: StallWatch,
    private readonly clocks: ClockSync,
  ) {}

  /** The work in hand finished: failed links no longer count as in a row. */
  linksHeld(): void {
    this.linkCutRun = null;
  }

  /** Counts a failed link in the work `what`: the error that ends the run at MAX_LINK_CUTS in a row. */
  countCut(cut: LinkCut, what: string): void {
    this.linkCutRun = this.linkCutRun?.what === what ? { what, count: this.linkCutRun.count + 1 } : { what, count: 1 };
    if (this.linkCutRun.count >= MAX_LINK_CUTS) throw linkGivenUp(cut, what, (r) => this.io.roster.addresses[r]);
    this.io.o.log.warn({ step: this.io.currentStep, during: what, from: cut.from, to: cut.to, ends: cut.ends, cause: cut.cause, reportedBy: cut.reportedBy, inARow: this.linkCutRun.count }, 'a ring link failed between two live ranks: every rank leaves, and the ring is rebuilt');
  }

  /** Replace the lost ranks, or go on without them, or the error that ends the run (failure-policy.ts). */
  private allowReplacement(lost: LostRank[]): 'replace' | 'shrink' {
    const { o, roster, currentStep } = this.io;
    const action = onRanksLost({ step: currentStep, worldSize: roster.size, history: this.history, maxRestarts: o.maxRestarts ?? 3, canRespawn: o.respawn !== undefined, minWorkers: o.minWorkers ?? o.worldSize }, lost);
    if (action.kind === 'abort') throw new DdpError(action.code, action.message, action.hint);
    return action.kind;
  }

  /**
   * Makes the group whole after ranks were lost in the work tagged `tag` (a step number, or minus a
   * collective's number for an evaluation or a save):
   * 1. every survivor leaves that work ('abort' closes its ring sockets) and binds a new ring inbox;
   *    its 'left' says whether it had finished the step (its step-done, which came first, goes to
   *    `got`);
   * 2. each lost rank gets a new process (local workers), or the survivors are renumbered into a
   *    smaller ring (workers on other hosts, --min-workers);
   * 3. the ring is rewired, and the ranks that had not finished the step (and the new ones) take the
   *    state of one that had, or of a survivor.
   */
  async regroup(
    lost: LostRank[],
    tag: number,
    what: string,
    got: Map<number, Reply> | null,
    microBatchOf: (rank: number) => number,
    /** Why, when no rank was lost (a ring link failed): every rank leaves and the ring is rebuilt. */
    why?: string,
  ): Promise<Regrouped> {
    const { io } = this;
    const { roster } = io;
    const action = lost.length === 0 ? 'replace' : this.allowReplacement(lost);
    const all = roster.all();
    const gone = new Set(lost.map((l) => l.rank));
    const survivors = all.filter((r) => !gone.has(r));
    for (const l of lost) {
      io.retired.add(l.pid);
      io.o.log.warn({ rank: l.rank, pid: l.pid, host: l.host, step: io.currentStep, during: what, cause: l.cause, lastLines: l.lastLines }, 'rank lost: every other rank leaves what it was doing');
    }
    // 1. Every survivor leaves.
    for (const r of survivors) await io.sendTo(r, { type: 'abort', step: tag, reason: why ?? `rank ${lost.map((l) => l.rank).join(',')} lost` });
    const left = await this.awaitLeft(survivors, tag, what, got);
    // What was reported before every rank left is moot now: the ring is made anew.
    this.watch.linkReports.clear();
    const applied = (r: number) => tag >= 0 && left.get(r)!.applied;
    if (action === 'shrink') {
      // 2. A smaller ring of the survivors, renumbered in their order.
      roster.renumber(survivors, survivors.map((r) => left.get(r)!.dataAddress));
      const micro = new Map(survivors.flatMap((r, i) => (this.microBatchNow.has(r) ? [[i, this.microBatchNow.get(r)!] as const] : [])));
      this.microBatchNow.clear();
      micro.forEach((m, r) => this.microBatchNow.set(r, m));
      io.lastSeen.clear();
      this.watch.microBatchMs.clear();
      await rewire(io, this.clocks, roster.all(), true);
      const finished = survivors.flatMap((r, i) => (applied(r) ? [i] : []));
      if (finished.length > 0) await syncFrom(io, finished[0]!, roster.all().filter((i) => !finished.includes(i)));
      const membership = { kind: 'shrink' as const, previousRank: survivors, lost: lost.map(({ rank, pid, host, cause }) => ({ rank, pid, host, cause })) };
      io.o.log.warn({ step: io.currentStep, during: what, lost: membership.lost, workers: roster.size, minWorkers: io.o.minWorkers, finishedBy: finished }, 'going on without the lost ranks');
      return { restarts: [], membership, finished, previousRank: survivors };
    }
    // 2. New processes for the lost ranks, at the micro-batch they had.
    const restarts: RestartRecord[] = [];
    for (const l of lost) {
      const newPid = await this.respawnRank(l.rank, microBatchOf(l.rank), true);
      restarts.push({ ...l, step: io.currentStep, newPid });
    }
    this.history.push(...restarts);
    // 3. The ring, whole again (every survivor bound a new inbox), and one state everywhere.
    for (const [r, m] of left) roster.addresses[r] = m.dataAddress;
    await rewire(io, this.clocks, all);
    const finished = survivors.filter(applied);
    const source = finished[0] ?? survivors[0]!;
    await syncFrom(io, source, [...gone, ...(finished.length > 0 ? survivors.filter((r) => !applied(r)) : [])]);
    if (lost.length === 0) io.o.log.info({ step: io.currentStep, during: what, finishedBy: finished, source }, 'ring rebuilt and re-synced');
    else io.o.log.info({ step: io.currentStep, during: what, replaced: restarts.map((r) => ({ rank: r.rank, oldPid: r.pid, newPid: r.newPid })), finishedBy: finished, source }, 'ranks replaced and re-synced');
    return { restarts, membership: null, finished, previousRank: all };
  }

  /** Each survivor's 'left' for the work tagged `tag`; a step-done that came first goes to `got`. */
  private async awaitLeft(survivors: number[], tag: number, what: string, got: Map<number, Reply> | null): Promise<Map<number, Extract<WorkerToCoordinator, { type: 'left' }>>> {
    const { io } = this;
    const left = new Map<number, Extract<WorkerToCoordinator, { type: 'left' }>>();
    const deadline = now() + io.o.stepTimeoutMs;
    while (!survivors.every((r) => left.has(r))) {
      if (io.failure !== null) io.fail(io.failure);
      for (const r of io.pending.splice(0)) {
        if (r.msg.type === 'error') io.fail({ kind: 'worker-error', rank: r.rank, code: r.msg.code, message: r.msg.message });
        if (r.msg.type === 'left' && r.msg.step === tag) left.set(r.rank, r.msg);
        else if (r.msg.type === 'step-done' && r.msg.step === tag && got !== null) got.set(r.rank, r);
        // An evaluation or a save answered before the abort came: it is done again.
        else if (tag < 0 && (r.msg.type === 'eval-done' || r.msg.type === 'saved')) continue;
        else io.fail({ kind: 'protocol', rank: r.rank, message: `sent ${r.msg.type} while leaving ${what}` });
      }
      if (survivors.every((r) => left.has(r))) break;
      const rest = deadline - now();
      if (rest <= 0) io.fail({ kind: 'timeout', missingRanks: survivors.filter((r) => !left.has(r)), waitedMs: io.o.stepTimeoutMs });
      await io.receiveInto(rest);
    }
    return left;
  }

  /**
   * Replaces a rank whose backend crashed: it took part in the step's all-reduce (every rank
   * aborted the step), so the ring only needs the new process spliced in.
   */
  async replaceCrashed(rank: number, microBatch: number, reason: string): Promise<RestartRecord> {
    const { io } = this;
    const old = io.roster.description(rank);
    const lost = io.lostRank(rank, `crashed its backend (${reason})`);
    this.allowReplacement([lost]);
    io.o.log.warn({ rank, pid: old.pid, step: io.currentStep, reason, microBatch }, 'replacing a rank whose backend crashed');
    io.retired.add(old.pid);
    await io.sendTo(rank, { type: 'stop', reason: 'replaced: its backend crashed' });
    const newPid = await this.respawnRank(rank, microBatch, false);
    const size = io.roster.size;
    await rewire(io, this.clocks, [rank, (rank + size - 1) % size]);
    await syncFrom(io, rank === 0 ? 1 : 0, [rank]);
    const record = { ...lost, step: io.currentStep, newPid };
    this.history.push(record);
    return record;
  }

  /**
   * Starts a new process for `rank`: it joins, builds its engine (micro-batch `microBatch`, no
   * search) and binds its ring inbox; returns its pid. The ring and its state come after.
   */
  private async respawnRank(rank: number, microBatch: number, kill: boolean): Promise<number> {
    const { io } = this;
    const { roster } = io;
    const { rendezvousTimeoutMs } = io.o;
    const worldSize = roster.size;
    const old = roster.description(rank);
    const oldPeer = roster.peers[rank]!;
    roster.unseat(oldPeer);
    await io.o.respawn!(rank, kill);
    // join → welcome → hello, as at the start, for this rank alone.
    const deadline = now() + rendezvousTimeoutMs;
    for (;;) {
      if (io.failure !== null) io.fail(io.failure);
      if (now() > deadline) io.fail({ kind: 'timeout', missingRanks: [rank], waitedMs: rendezvousTimeoutMs });
      const m = await io.poll(deadline - now());
      if (m === null || m.peer === oldPeer) continue;
      const msg = io.decodeJoin(m);
      if (msg === null || msg.type !== 'join') continue;
      if (msg.version !== io.o.version) io.fail({ kind: 'protocol', rank, message: `the replacement of rank ${rank} runs tfjs-ddp ${msg.version}` });
      roster.seat(rank, m.peer);
      break;
    }
    await io.sendTo(rank, { type: 'welcome', rank, worldSize, settings: { ...io.o.settingsFor(rank), microBatch } });
    const hello = (await io.collect('hello', [rank], rendezvousTimeoutMs)).get(rank)!.msg as Hello;
    if (hello.description.params !== old.params) io.fail({ kind: 'protocol', rank, message: `the replacement built ${hello.description.params} parameters, not ${old.params}` });
    roster.descriptions[rank] = { ...hello.description, rank, microBatch: old.microBatch, memoryFit: old.memoryFit };
    roster.addresses[rank] = hello.dataAddress;
    io.lastSeen.delete(rank);
    this.watch.microBatchMs.delete(rank);
    return hello.description.pid;
  }
}
