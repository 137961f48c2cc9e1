// RemoteWorkerGroup: the WorkerGroup of N worker processes (local or on other hosts) driven over the
// control plane. Rendezvous assigns ranks, checks that every worker built the same model from the
// same data, and wires the ring; then each step/eval/save is one request to every rank and one reply
// from each. A rank lost during a step (it exited, or stalled past the step timeout and was killed)
// is replaced: every other rank leaves the step, a new process takes the rank, the ring is rebuilt, a
// healthy rank's state is copied in, and the step is finished or replayed (docs/reliability.md).
// This file is the WorkerGroup facade; its parts live in group/: the I/O executor (control-io.ts),
// the roster, rendezvous, the wait watch (stall-watch.ts), recovery, elastic admission, state sync
// and clock sync.
import {
  checkWireFileNames,
  DdpError,
  writeDirAtomically,
  type EvalOutcome,
  type MembershipChange,
  type RestartRecord,
  type SaveRequest,
  type SecurityReport,
  type StepOutcome,
  type StepPlan,
  type TrainingState,
  type WorkerDescription,
  type WorkerGroup,
  type WorkerToCoordinator,
  type LinkCut,
  PING_INTERVAL_MS,
} from '@tfjs-ddp/core';
import { evalShards } from '@tfjs-ddp/data';
import type { FailureEvent, LostRank } from './policy/failure-policy';
import { admit } from './group/admission';
import { auditReports, auditRequests } from './group/audit-plan';
import { ClockSync } from './group/clock-sync';
import { ControlIo } from './group/control-io';
import { now, type RemoteGroupOptions, type Reply, type StepDone } from './group/group-options';
import { Recovery } from './group/recovery';
import { rendezvous } from './group/rendezvous';
import { StallWatch } from './group/stall-watch';
import { restoreState, stateOfRankZero } from './group/state-sync';
import { LinkFailed, RanksLost } from './group/wait-errors';

export type { RemoteGroupOptions } from './group/group-options';

export class RemoteWorkerGroup implements WorkerGroup {
  private readonly io: ControlIo;
  private readonly watch: StallWatch;
  private readonly clocks: ClockSync;
  private readonly recovery: Recovery;
  /** BatchNorm averagings so far: each is an all-reduce tagged with this count, the same on every rank. */
  private collectives = 0;
  /** Each rank's count of refused connections, from its last checksum-done. */
  private rejectedByRank: (number | null)[] = [];
  private pinger: NodeJS.Timeout | null = null;
  /** Replacements and membership changes outside steps (evaluation, saves, joins), for between(). */
  private changes: { restarts: RestartRecord[]; membership: MembershipChange | null } = { restarts: [], membership: null };

  private constructor(private readonly o: RemoteGroupOptions) {
    this.io = new ControlIo(o);
    this.watch = new StallWatch(this.io);
    this.io.watch = this.watch;
    this.clocks = new ClockSync(this.io);
    this.recovery = new Recovery(this.io, this.watch, this.clocks);
  }

  /** Waits for worldSize workers, assigns ranks, checks they agree and connects the ring. */
  static async rendezvous(o: RemoteGroupOptions, launched?: (g: RemoteWorkerGroup) => void): Promise<RemoteWorkerGroup> {
    const g = new RemoteWorkerGroup(o);
    launched?.(g);
    // Workers take the coordinator's silence for its death (control-channel.ts): ping every rank
    // that has been welcomed, from now until close().
    g.pinger = setInterval(() => g.io.pingAll(), PING_INTERVAL_MS);
    g.pinger.unref();
    await rendezvous(g.io, g.clocks);
    return g;
  }

  get worldSize(): number {
    return this.io.roster.size;
  }

  describe(): WorkerDescription[] {
    return this.io.roster.descriptions;
  }

  /** The launcher reports a worker's exit here; the wait in progress fails with the root cause. */
  reportFailure(e: FailureEvent): void {
    this.io.reportFailure(e);
  }


  async step(plan: StepPlan): Promise<StepOutcome> {
    this.io.phase = 'step';
    this.io.currentStep = plan.step;
    this.watch.tag = plan.step;
    const checksum = plan.step % this.o.checksumEvery === 0;
    // An audit step: each rank also gets its neighbour's first micro-batch to recompute (frame 1).
    const audits = plan.audit === true ? auditRequests(plan.slices, plan.auditSelf === true) : [];
    for (const [i, s] of plan.slices.entries()) {
      const a = audits[i];
      const frames = [s.indices, ...(a?.indices != null ? [a.indices] : [])].map((x) => new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
      await this.io.sendTo(s.rank, { type: 'step', step: plan.step, epoch: plan.epoch, globalCount: plan.globalCount, checksum, microBatch: s.microBatch, attempt: plan.attempt, ...(plan.lrFactor !== undefined ? { lrFactor: plan.lrFactor } : {}), ...(a !== undefined ? { audit: a.request } : {}) }, frames);
    }
    let got: Map<number, Reply>;
    for (const sl of plan.slices) this.recovery.microBatchNow.set(sl.rank, sl.microBatch);
    this.watch.silence = plan.attempt === 0 ? { since: now(), lastLook: now(), microBatch: new Map(plan.slices.map((s) => [s.rank, s.microBatch])) } : null;
    try {
      got = await this.io.collect('step-done', plan.slices.map((s) => s.rank), this.o.stepTimeoutMs, true);
    } catch (e) {
      if (e instanceof LinkFailed) return this.recoverLink(plan, e);
      if (!(e instanceof RanksLost)) throw e;
      return this.recover(plan, e.lost, e.got);
    } finally {
      this.watch.silence = null;
      this.watch.tag = null;
    }
    this.recovery.linksHeld();
    for (const s of plan.slices) {
      const { timings: t, trace } = got.get(s.rank)!.msg as StepDone;
      this.clocks.traceFrom(s.rank, trace);
      if (t.microBatches > 0) this.watch.microBatchMs.set(s.rank, { ms: (t.dataMs + t.computeMs) / t.microBatches, microBatch: s.microBatch });
    }
    const replies = plan.slices.map((s) => got.get(s.rank)!.msg as StepDone);
    // Every rank saw the same all-reduced abort flag: they all aborted, or none did.
    const aborted = replies.map((r) => r.aborted);
    if (new Set(aborted).size > 1) this.io.fail({ kind: 'protocol', rank: aborted.indexOf(!aborted[0]), message: `step ${plan.step}: ranks disagree on whether it was aborted` });
    if (checksum && !aborted[0]) this.checkChecksums(replies.map((r, rank) => ({ rank, checksum: r.checksum })));
    // A rank whose backend crashed took part in the all-reduce (so every rank aborted) and left:
    // replace it before the step is replayed.
    const restarts: RestartRecord[] = [];
    for (const dead of replies.flatMap((r) => (r.oom?.fatal ? [r.oom] : []))) restarts.push(await this.recovery.replaceCrashed(dead.rank, Math.max(1, Math.floor(dead.microBatch / 2)), dead.reason));
    const audit = audits.length > 0 && !aborted[0] ? auditReports(replies.map((r, rank) => ({ rank, ...(r.audit !== undefined ? { audit: r.audit } : {}) }))) : undefined;
    return { ...outcomeOf(replies), restarts, ...(audit !== undefined ? { audit } : {}) };
  }

  private checkChecksums(sums: { rank: number; checksum: string | null }[]): void {
    const ref = sums[0]!.checksum;
    const bad = sums.filter((s) => s.checksum !== ref);
    if (bad.length > 0) {
      throw new DdpError('E_DIVERGED', `the weights of ranks ${bad.map((b) => b.rank).join(',')} differ from rank 0's after step ${this.io.currentStep} (checksums ${sums.map((s) => s.checksum).join(', ')})`, 'this is a bug or a faulty device: report it with the run directory');
    }
  }

  /**
   * Ranks were lost during a step: every other rank leaves it and the group is made whole again
   * (regroup); the step counts as done if a rank had finished it (its state is everyone's now),
   * else it is replayed (aborted: true). Nothing half-applied survives: a rank holds either the
   * state after the step or before it, and all ranks hold the same.
   */
  private async recover(plan: StepPlan, lost: LostRank[], got: Map<number, Reply>, cut?: LinkCut): Promise<StepOutcome> {
    const microBatchOf = (r: number) => plan.slices.find((s) => s.rank === r)?.microBatch ?? this.io.roster.descriptions[r]!.microBatch;
    for (const [r, reply] of got) this.clocks.traceFrom(r, (reply.msg as StepDone).trace);
    const g = await this.recovery.regroup(lost, plan.step, `step ${plan.step}`, got, microBatchOf, cut !== undefined ? `the ring link ${cut.from}→${cut.to} failed` : undefined);
    const changes = { restarts: g.restarts, ...(g.membership !== null ? { membership: g.membership } : {}), ...(cut !== undefined ? { linkCuts: [cut] } : {}) };
    if (g.finished.length === 0) return { aborted: true, skipped: false, oom: [], lossSum: 0, correct: 0, count: 0, timings: [], ...changes };
    // After the all-reduce every rank that finished holds the global sums.
    return { ...outcomeOf(g.finished.map((r) => got.get(g.previousRank[r]!)!.msg as StepDone)), ...changes };
  }

  /**
   * A ring link failed between two live ranks during a step: every rank leaves it, the ring is
   * rebuilt (new inboxes, new connections) and the step counts as done if a rank had finished it,
   * else it is replayed; a link that fails MAX_LINK_CUTS times in a row ends the run (E_NETWORK).
   */
  private async recoverLink(plan: StepPlan, e: LinkFailed): Promise<StepOutcome> {
    this.recovery.countCut(e.cut, `step ${plan.step}`);
    return this.recover(plan, [], e.got, e.cut);
  }

  /**
   * Runs an evaluation or a save (each starts with an all-reduce of the BatchNorm statistics) and, if
   * ranks are lost meanwhile, makes the group whole and runs it again. What changed is reported by
   * the next between().
   */
  private async collective<T>(what: 'evaluation' | 'the checkpoint', run: (collective: number) => Promise<T>): Promise<T> {
    for (;;) {
      const collective = ++this.collectives;
      this.watch.tag = -collective;
      try {
        const out = await run(collective);
        this.recovery.linksHeld();
        return out;
      } catch (e) {
        if (e instanceof LinkFailed) {
          this.recovery.countCut(e.cut, what);
          await this.recovery.regroup([], -collective, what, null, (r) => this.recovery.microBatchNow.get(r) ?? this.io.roster.descriptions[r]!.microBatch, `the ring link ${e.cut.from}→${e.cut.to} failed`);
          continue;
        }
        if (!(e instanceof RanksLost)) throw e;
        const g = await this.recovery.regroup(e.lost, -collective, what, null, (r) => this.recovery.microBatchNow.get(r) ?? this.io.roster.descriptions[r]!.microBatch);
        this.changes.restarts.push(...g.restarts);
        if (g.membership !== null) this.changes.membership = composeMembership(this.changes.membership, g.membership);
      } finally {
        this.watch.tag = null;
      }
    }
  }

  async between(): Promise<{ restarts: RestartRecord[]; membership: MembershipChange | null }> {
    const joined = await admit(this.io, this.clocks);
    if (joined !== null) this.changes.membership = composeMembership(this.changes.membership, joined);
    const out = this.changes;
    this.changes = { restarts: [], membership: null };
    return out;
  }

  async evaluate(limit: number | null = null): Promise<EvalOutcome> {
    this.io.phase = 'eval';
    return this.collective('evaluation', async (collective) => {
      const shards = evalShards(Math.min(this.io.roster.descriptions[0]!.testCount, limit ?? Infinity), this.worldSize);
      for (let r = 0; r < this.worldSize; r++) await this.io.sendTo(r, { type: 'eval', start: shards[r]!.start, end: shards[r]!.end, collective });
      const replies = await this.io.collect('eval-done', shards.map((_, r) => r), this.o.stepTimeoutMs, true);
      const out: EvalOutcome = { lossSum: 0, correct: 0, count: 0, metrics: (this.io.roster.descriptions[0]!.metricNames ?? []).map(() => 0) };
      for (const { rank, msg } of replies.values()) {
        const e = msg as Extract<WorkerToCoordinator, { type: 'eval-done' }>;
        this.clocks.traceFrom(rank, e.trace);
        out.lossSum += e.lossSum;
        out.correct += e.correct;
        out.count += e.count;
        e.metrics?.forEach((v, j) => (out.metrics![j]! += v));
      }
      return out;
    });
  }

  async checksums(): Promise<string[]> {
    for (let r = 0; r < this.worldSize; r++) await this.io.sendTo(r, { type: 'checksum' });
    const replies = await this.io.collect('checksum-done', this.io.roster.descriptions.map((d) => d.rank), this.o.stepTimeoutMs);
    const done = this.io.roster.descriptions.map((d) => replies.get(d.rank)!.msg as Extract<WorkerToCoordinator, { type: 'checksum-done' }>);
    this.rejectedByRank = done.map((m) => (typeof m.rejectedConnections === 'number' ? m.rejectedConnections : null));
    return done.map((m) => m.checksum);
  }

  security(): SecurityReport {
    const mode = this.o.security?.mode ?? 'loopback';
    const own = mode === 'curve' ? (this.o.security?.rejectedConnections() ?? 0) : null;
    const perProcess: SecurityReport['rejected_connections_per_process'] = [{ role: 'coordinator', rank: null, connections: own }, ...this.rejectedByRank.map((connections, rank) => ({ role: 'worker' as const, rank, connections }))];
    const counted = perProcess.flatMap((p) => (p.connections === null ? [] : [p.connections]));
    return {
      security: mode,
      rejected_connections: mode === 'curve' ? counted.reduce((a, b) => a + b, 0) : null,
      rejected_frames: this.io.rejectedFrames,
      rejected_connections_per_process: perProcess,
    };
  }

  async save(req: SaveRequest): Promise<string[]> {
    return writeDirAtomically(req.dir, (await this.modelFiles(req.meta)).files);
  }

  /**
   * Rank 0's model files, after every rank averaged its BatchNorm statistics (the 'save' request),
   * and every rank's weight checksum then (undefined when a worker sent none).
   */
  private async modelFiles(meta: Record<string, unknown>): Promise<{ files: Record<string, Uint8Array>; checksums: string[] | undefined }> {
    this.io.phase = 'save';
    return this.collective('the checkpoint', async (collective) => {
      for (let r = 0; r < this.worldSize; r++) await this.io.sendTo(r, { type: 'save', meta, collective });
      const replies = await this.io.collect('saved', this.io.roster.descriptions.map((d) => d.rank), this.o.stepTimeoutMs, true);
      const zero = replies.get(0)!;
      const sent = (zero.msg as Extract<WorkerToCoordinator, { type: 'saved' }>).names;
      if (!Array.isArray(sent) || sent.length !== zero.binary.length) this.io.fail({ kind: 'protocol', rank: 0, message: `saved ${Array.isArray(sent) ? sent.length : 'no list of'} names with ${zero.binary.length} files` });
      // Names from the wire: only the model's own files, each once (never a path: security/wire-paths.ts).
      const names = checkWireFileNames(sent, `rank 0 (pid ${this.io.roster.descriptions[0]?.pid ?? '?'})`);
      const checksums = this.io.roster.descriptions.map((d) => (replies.get(d.rank)!.msg as Extract<WorkerToCoordinator, { type: 'saved' }>).checksum);
      const bad = checksums.findIndex((c) => c !== undefined && (typeof c !== 'string' || c.length > 64));
      if (bad >= 0) this.io.fail({ kind: 'protocol', rank: bad, message: 'saved with a checksum that is not a string of at most 64 characters' });
      return { files: Object.fromEntries(names.map((n, i) => [n, zero.binary[i]!])), checksums: checksums.every((c) => c !== undefined) ? checksums : undefined };
    });
  }

  async snapshot(meta: Record<string, unknown>): Promise<{ files: Record<string, Uint8Array>; state: TrainingState; checksums?: string[] }> {
    const { files, checksums } = await this.modelFiles(meta);
    const state = await stateOfRankZero(this.io);
    return { files, ...(checksums !== undefined ? { checksums } : {}), state };
  }

  async restore(state: TrainingState): Promise<void> {
    await restoreState(this.io, state);
  }

  async close(reason = 'done'): Promise<void> {
    if (this.pinger !== null) clearInterval(this.pinger);
    await this.io.stopAll(reason);
  }
}

/** The step's figures from the replies of ranks that finished it (each holds the global sums). */
function outcomeOf(replies: StepDone[]): Omit<StepOutcome, 'restarts'> {
  const first = replies[0]!;
  return {
    lossSum: first.lossSum,
    correct: first.correct,
    count: first.count,
    ...(first.metrics !== undefined ? { metrics: first.metrics } : {}),
    aborted: first.aborted,
    skipped: first.skipped,
    oom: replies.flatMap((r) => (r.oom === null ? [] : [r.oom])),
    timings: replies.map((r) => r.timings),
  };
}

/** Two membership changes in a row as one: each rank's number before the first. */
function composeMembership(first: MembershipChange | null, then: MembershipChange): MembershipChange {
  if (first === null) return then;
  return {
    kind: then.kind,
    previousRank: then.previousRank.map((p) => (p === null ? null : (first.previousRank[p] ?? null))),
    lost: [...first.lost, ...then.lost.map((l) => ({ ...l, rank: first.previousRank[l.rank] ?? l.rank }))],
  };
}
