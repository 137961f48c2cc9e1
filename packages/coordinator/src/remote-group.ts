// RemoteWorkerGroup: the WorkerGroup of N worker processes (local or on other hosts) driven over the
// control plane. Rendezvous assigns ranks, checks that every worker built the same model from the
// same data, and wires the ring; then each step/eval/save is one request to every rank and one reply
// from each. Nothing waits forever: replies are awaited with a deadline, polled in short slices so
// that a worker's exit (reported by the launcher) is seen within a fraction of a second. A rank lost
// during a step (it exited, or stalled past the step timeout and was killed) is replaced: every other
// rank leaves the step, a new process takes the rank, the ring is rebuilt, a healthy rank's state is
// copied in, and the step is finished or replayed (docs/reliability.md).
import {
  checkWireFileNames,
  DdpError,
  decodeControl,
  encodeControl,
  isDdpError,
  MAX_CONTROL_FRAME_BYTES,
  writeDirAtomically,
  stateDigest,
  type CoordinatorToWorker,
  type EvalOutcome,
  type SaveRequest,
  type Server,
  type StepOutcome,
  type SecurityReport,
  type StepPlan,
  type TrainingState,
  type WorkerDescription,
  type WorkerGroup,
  type WorkerSettings,
  type WorkerToCoordinator,
  type RestartRecord,
  type MembershipChange,
  type RankTraceSink,
  type TraceSpan,
  type LinkCut,
  PING_INTERVAL_MS,
  traceClock,
} from '@tfjs-ddp/core';
import { evalShards } from '@tfjs-ddp/data';
import { JoinBackoff } from './policy/join-backoff';
import { decide, exitCause, onRanksLost, type FailureEvent, type LostRank, type Phase } from './policy/failure-policy';
import { checkGpusDistinct } from './policy/gpu-assignment';
import { judgeSilence, SILENCE_MS, whereSeen, type Seen, type SilenceWatch } from './policy/liveness';
import { auditReports, auditRequests } from './group/audit-plan';
import type { LoopLogger } from './loop/train-events';
import { checkWorkersAgree } from './policy/workers-agree';
import { LinkReports, linkGivenUp, MAX_LINK_CUTS } from './group/link-reports';

export interface RemoteGroupOptions {
  server: Server;
  worldSize: number;
  settingsFor(rank: number): WorkerSettings;
  version: string;
  log: LoopLogger;
  rendezvousTimeoutMs: number;
  stepTimeoutMs: number;
  /** Compare the ranks' weight checksums every this many steps (and at every save). */
  checksumEvery: number;
  /**
   * Starts a new process for `rank`, which joins like the first did: how a rank that died, stalled
   * or whose backend crashed is replaced. The old process is waited for (it was told to stop), or
   * with `kill` killed at once (it stalled). Without it (workers on other hosts) a lost rank ends
   * the run.
   */
  respawn?: (rank: number, kill: boolean) => Promise<void>;
  /** The last lines of a local rank's log, for the account of a lost rank. */
  logTail?: (rank: number) => string[];
  /** Ranks the run may replace in all (--max-restarts); default 3. */
  maxRestarts?: number;
  /**
   * Workers on other hosts (no respawn): the fewest ranks the run goes on with when some are lost
   * (--min-workers); default worldSize, i.e. a lost rank ends the run. Workers that join later are
   * taken in at a step boundary, up to worldSize.
   */
  minWorkers?: number;
  /**
   * How long a worker being taken in may answer no ping while the ring is rewired and it is synced
   * before its join is undone: default SILENCE_MS (10 s); after its hello its loop is idle.
   */
  joinerSilenceMs?: number;
  /** Allow several ranks of one host on one GPU adapter (--share-gpu). */
  shareGpu?: boolean;
  /** How the sockets are secured, and the coordinator's own count of refused connections. */
  security?: { mode: SecurityReport['security']; rejectedConnections: () => number };
  /**
   * Where the ranks' timeline spans go (--timeline), converted to this process's trace clock with
   * each worker's clock offset, measured when it joins. The workers send spans only when their
   * settings say `timeline`.
   */
  trace?: RankTraceSink;
}

type Reply = { rank: number; msg: WorkerToCoordinator; binary: Uint8Array[] };
type StepDone = Extract<WorkerToCoordinator, { type: 'step-done' }>;

const POLL_MS = 200;
/** Round trips per worker when its clock offset is measured; the one with the shortest counts. */
const CLOCK_ROUNDS = 8;
/** How long ranks that have not finished a step get to answer a probe before they count as stalled. */
const PROBE_MS = 5_000;
/**
 * A joiner answers pings from its control loop while it builds its engine (the memory search runs
 * in a child process); silent this long, it is taken for dead and sent away (3× SILENCE_MS: a
 * joiner's event loop may be busy loading data and building its model).
 */
const JOINER_SILENCE_MS = 30_000;
/** Liveness and deadlines on a monotonic clock: a wall-clock jump changes none of them. */
const now = () => performance.now();

/** Thrown inside a step's wait when ranks were lost; step() catches it and recovers. */
class RanksLost extends Error {
  constructor(
    readonly lost: LostRank[],
    /** The step's replies that had arrived. */
    readonly got: Map<number, Reply>,
  ) {
    super(`ranks ${lost.map((l) => l.rank).join(',')} lost`);
  }
}

/** Thrown inside a wait when a worker being taken in (an elastic join) failed before it was synced. */
class JoinerLost extends Error {
  constructor(
    readonly rank: number,
    readonly reason: string,
  ) {
    super(`joining rank ${rank} lost: ${reason}`);
  }
}

/** Thrown inside a step's wait (or a collective's) when a ring link failed between two live ranks. */
class LinkFailed extends Error {
  constructor(
    readonly cut: LinkCut,
    /** The replies that had arrived. */
    readonly got: Map<number, Reply>,
  ) {
    super(`ring link ${cut.from}→${cut.to} failed`);
  }
}

export class RemoteWorkerGroup implements WorkerGroup {
  /** Ring links the ranks said failed (worker link-watch.ts), until the ring is rebuilt. */
  private readonly linkReports = new LinkReports();
  /** The work whose all-reduce the link reports are judged for: a step, or minus a collective's number. */
  private watchTag: number | null = null;
  /** Workers being taken in (admit), until they are synced: their silence or error undoes the join. */
  private joining: { ranks: number[]; since: number } | null = null;
  /** Ring rebuilds for failed links in a row, in the work named `what`. */
  private linkCutRun: { what: string; count: number } | null = null;
  private readonly peers: string[] = [];
  private descriptions: WorkerDescription[] = [];
  private phase: Phase = 'rendezvous';
  private currentStep = 0;
  private failure: FailureEvent | null = null;
  private pending: Reply[] = [];
  /** Ring inbox address of each rank. */
  private addresses: string[] = [];
  /** Pids of processes replaced on purpose: their exit is not a failure. */
  private readonly retired = new Set<number>();
  /** Messages dropped because no rank sent them, or they did not decode before ranks were known. */
  private rejectedFrames = 0;
  /** The control server's closed connections last logged. */
  private closedSeen = 0;
  /** Each rank's count of refused connections, from its last checksum-done. */
  private rejectedByRank: (number | null)[] = [];
  /** Where each rank last said it was (progress messages), and when. */
  private readonly lastSeen = new Map<number, Seen>();
  /** Per rank, the longest a micro-batch of its last finished step took (ms), and at which micro-batch size. */
  private readonly microBatchMs = new Map<number, { ms: number; microBatch: number }>();
  /** The step being waited for, when the silence of ranks may be judged (a first try, at a known micro-batch size). */
  private silenceWatch: SilenceWatch | null = null;
  /** BatchNorm averagings so far: each is an all-reduce tagged with this count, the same on every rank. */
  private collectives = 0;
  /** Ranks replaced so far, oldest first. */
  private readonly history: RestartRecord[] = [];
  private pinger: NodeJS.Timeout | null = null;
  /** Replacements and membership changes outside steps (evaluation, saves, joins), for between(). */
  private changes: { restarts: RestartRecord[]; membership: MembershipChange | null } = { restarts: [], membership: null };
  /** Each rank's micro-batch in the last step (after back-offs), for a replacement made outside a step. */
  private readonly microBatchNow = new Map<number, number>();
  /** Ranks now: worldSize, fewer after an elastic shrink. */
  private size: number;
  /** Workers that asked to join mid-run (an elastic run takes them in at the next step boundary). */
  private readonly joiners: { peer: string; msg: Extract<WorkerToCoordinator, { type: 'join' }> }[] = [];
  /** Per worker process (its control-plane peer): its trace clock minus ours, in ms, and the round trip it was measured in. */
  private readonly clocks = new Map<string, { offsetMs: number; rttMs: number }>();

  private constructor(private readonly o: RemoteGroupOptions) {
    this.size = o.worldSize;
  }

  /** Waits for worldSize workers, assigns ranks, checks they agree and connects the ring. */
  static async rendezvous(o: RemoteGroupOptions, launched?: (g: RemoteWorkerGroup) => void): Promise<RemoteWorkerGroup> {
    const g = new RemoteWorkerGroup(o);
    launched?.(g);
    // Workers take the coordinator's silence for its death (control-channel.ts): ping every rank
    // that has been welcomed, from now until close().
    g.pinger = setInterval(() => g.pingAll(), PING_INTERVAL_MS);
    g.pinger.unref();
    await g.join();
    return g;
  }

  get worldSize(): number {
    return this.size;
  }

  describe(): WorkerDescription[] {
    return this.descriptions;
  }

  /** The launcher reports a worker's exit here; the wait in progress fails with the root cause. */
  reportFailure(e: FailureEvent): void {
    if (e.kind === 'exited' && this.retired.has(e.pid)) return;
    this.failure ??= e;
  }

  private fail(e: FailureEvent): never {
    const a = decide({ phase: this.phase, step: this.currentStep, worldSize: this.size }, e);
    if (a.kind === 'stop') throw new DdpError('E_INTERNAL', `stop requested (${a.reason})`);
    throw new DdpError(a.code, a.message, a.hint);
  }

  /**
   * Receives until one reply of `type` arrived from each rank in `ranks`, or fails. With `recoverable`
   * (a step's wait), a rank that exits, or that stalls past the deadline, throws RanksLost instead.
   */
  private async collect(type: WorkerToCoordinator['type'], ranks: number[], timeoutMs: number, recoverable = false): Promise<Map<number, Reply>> {
    const got = new Map<number, Reply>();
    const deadline = now() + timeoutMs;
    let joinerFailed: JoinerLost | null = null;
    for (;;) {
      const f = this.failure;
      if (f !== null) {
        if (recoverable && f.kind === 'exited' && f.rank !== null) {
          this.failure = null;
          throw new RanksLost([{ rank: f.rank, pid: f.pid, host: f.host, cause: exitCause(f), lastLines: this.o.logTail?.(f.rank) ?? (f.lastLine !== null ? [f.lastLine] : []) }], got);
        }
        this.fail(f);
      }
      for (const r of this.pending.splice(0)) {
        if (r.msg.type === 'error' && this.joining?.ranks.includes(r.rank) === true) {
          joinerFailed ??= new JoinerLost(r.rank, `${r.msg.code}: ${r.msg.message}`);
          continue;
        }
        if (r.msg.type === 'error') this.fail({ kind: 'worker-error', rank: r.rank, code: r.msg.code, message: r.msg.message });
        if (r.msg.type !== type) this.fail({ kind: 'protocol', rank: r.rank, message: `sent ${r.msg.type} while ${type} was expected` });
        got.set(r.rank, r);
      }
      if (ranks.every((r) => got.has(r))) return got;
      const j = this.joining;
      if (j !== null) {
        const silenceMs = this.o.joinerSilenceMs ?? SILENCE_MS;
        const quiet = j.ranks.find((r) => ranks.includes(r) && !got.has(r) && now() - Math.max(this.lastSeen.get(r)?.at ?? 0, j.since) > silenceMs);
        if (quiet !== undefined) joinerFailed ??= new JoinerLost(quiet, `it answered no ping for ${Math.round(silenceMs / 1000)} s while it was synced`);
        // The others' replies are taken first, so that none is left in flight when the join is undone.
        if (joinerFailed !== null && ranks.every((r) => got.has(r) || j.ranks.includes(r))) throw joinerFailed;
      }
      if (recoverable) {
        const silent = this.silentRanks(ranks.filter((r) => !got.has(r)));
        if (silent.length > 0) throw new RanksLost(silent, got);
        const a = this.watchTag === null ? null : this.linkReports.next(this.watchTag, now(), (r) => this.lastSeen.get(r)?.at ?? -Infinity);
        if (a?.kind === 'probe') for (const r of a.ranks) await this.sendTo(r, { type: 'probe' }).catch(() => undefined);
        if (a?.kind === 'cut') throw new LinkFailed({ from: a.from, to: a.to, ends: [a.from, a.to].map((r) => ({ rank: r, pid: this.descriptions[r]!.pid, host: this.descriptions[r]!.host })), cause: a.cause, reportedBy: a.reportedBy }, got);
      }
      const left = deadline - now();
      if (left <= 0) {
        const missing = ranks.filter((r) => !got.has(r));
        const stalled = this.phase === 'step' ? await this.inspectStall(missing, timeoutMs) : [];
        if (recoverable && stalled.length > 0) throw new RanksLost(stalled, got);
        this.fail({ kind: 'timeout', missingRanks: missing, waitedMs: timeoutMs, ...(stalled.length > 0 ? { detail: stalled.map((l) => `rank ${l.rank} (pid ${l.pid}${l.host ? ` on ${l.host}` : ''}) ${l.cause}`).join('; ') } : {}) });
      }
      const m = await this.receive(left);
      if (m !== null) this.pending.push(m);
    }
  }

  /**
   * The next message from a rank, or null when none came within a short slice. Progress reports are
   * recorded here and not returned; messages from unknown peers are dropped and counted.
   */
  private async receive(leftMs: number): Promise<Reply | null> {
    const m = await this.poll(leftMs);
    if (m === null) return null;
    const rank = this.rankOf.get(m.peer);
    if (rank === undefined) {
      let msg: WorkerToCoordinator | null;
      try {
        msg = this.decodeJoin(m);
      } catch (e) {
        // Mid-run, a peer of another protocol version is turned away, not allowed to end the run.
        msg = null;
        this.rejectedFrames++;
        this.o.log.warn({ peer: m.peer, reason: e instanceof Error ? e.message : String(e), rejectedFrames: this.rejectedFrames }, 'message from an unknown peer ignored');
      }
      if (msg?.type === 'join' && msg.version === this.o.version) {
        const kept = this.joinBackoff.keptOut(msg.host, Date.now());
        if (kept !== null) {
          const until = new Date(kept.until).toISOString();
          this.o.log.warn({ pid: msg.pid, host: msg.host, failures: kept.failures, keptOutUntil: until }, 'a worker asks to join from a host kept out after failed joins: sent away');
          const reason = `its host ${msg.host} is kept out of this run until ${until}: a worker from it failed to join ${kept.failures} time(s), the last: ${kept.reason}`;
          this.o.server.send(m.peer, encodeControl({ type: 'stop', reason } satisfies CoordinatorToWorker)).catch(() => undefined);
          return null;
        }
        if (!this.joiners.some((j) => j.peer === m.peer)) this.joiners.push({ peer: m.peer, msg });
        this.o.log.info({ pid: msg.pid, host: msg.host, waiting: this.joiners.length }, 'a worker asks to join: taken in at the next step boundary if the run is below its world size');
        return null;
      }
      if (msg !== null) this.turnAway(m.peer, msg.type);
      return null;
    }
    let reply: Reply;
    try {
      const { msg, binary } = decodeControl<WorkerToCoordinator>(m.frames);
      reply = { rank, msg, binary };
    } catch (e) {
      this.fail({ kind: 'protocol', rank, message: e instanceof Error ? e.message : String(e) });
    }
    if (reply.msg.type === 'progress') {
      this.lastSeen.set(rank, { step: reply.msg.step, phase: reply.msg.phase, at: now() });
      return null;
    }
    if (reply.msg.type === 'link-lost') {
      const { type: _t, ...link } = reply.msg;
      this.o.log.warn({ rank, ...link }, 'a rank says a ring link failed: probing both ends');
      this.linkReports.add(rank, reply.msg);
      return null;
    }
    if (reply.msg.type === 'step-done') this.lastSeen.set(rank, { step: reply.msg.step, phase: 'idle', at: now() });
    return reply;
  }

  /**
   * Ranks that have answered no ping for longer than their allowance since the wait began: lost.
   * Judged only on a step's first try, for ranks whose micro-batch time at this size is known.
   */
  private silentRanks(missing: number[]): LostRank[] {
    const w = this.silenceWatch;
    if (w === null) return [];
    const t = now();
    const v = judgeSilence({ watch: w, t, missing, lastSeen: this.lastSeen, microBatchMs: this.microBatchMs });
    w.lastLook = t;
    if (v.kind === 'paused') {
      // This process was not running (stopped with its workers, a suspended machine, a long pause):
      // the pings that came meanwhile are still queued. Every rank gets its allowance again from now.
      w.since = t;
      for (const seen of this.lastSeen.values()) seen.at = Math.max(seen.at, t);
      this.o.log.warn({ pausedMs: Math.round(v.awayMs), step: this.currentStep }, 'the coordinator was paused: silence is judged again from now');
      return [];
    }
    return v.lost.map((l) => this.lostRank(l.rank, l.cause));
  }

  /**
   * The stall inspector: probes the ranks that have not finished after the step timeout. A live
   * worker answers at once, whatever it waits for; the ones that do not answer within PROBE_MS are
   * stalled (stopped, deadlocked, stuck in a computation past the timeout), named with where they
   * were last seen.
   */
  private async inspectStall(missing: number[], waitedMs: number): Promise<LostRank[]> {
    const asked = now();
    for (const r of missing) await this.sendTo(r, { type: 'probe' }).catch(() => undefined);
    const answered = new Set<number>();
    while (now() - asked < PROBE_MS && answered.size < missing.length) {
      const m = await this.receive(PROBE_MS - (now() - asked));
      if (m !== null) this.pending.push(m);
      for (const r of missing) if ((this.lastSeen.get(r)?.at ?? 0) >= asked) answered.add(r);
    }
    return missing
      .filter((r) => !answered.has(r))
      .map((r) => {
        const seen = this.lastSeen.get(r);
        const where = seen === undefined ? 'never reported progress' : `was last seen ${whereSeen(seen)} ${Math.round((now() - seen.at) / 1000)} s ago`;
        return this.lostRank(r, `stalled: no reply after ${Math.round(waitedMs / 1000)} s and none to a probe; it ${where}`);
      });
  }

  /** Rank `r`, as described now, lost for `cause`, with the last lines of its log (local workers). */
  private lostRank(r: number, cause: string): LostRank {
    const d = this.descriptions[r]!;
    return { rank: r, pid: d.pid, host: d.host, cause, lastLines: this.o.logTail?.(r) ?? [] };
  }

  private pingAll(): void {
    // libzmq drops a peer that sends a frame over the control limit with no word but a disconnect.
    const closed = this.o.server.closedConnections?.() ?? 0;
    if (closed > this.closedSeen) {
      this.closedSeen = closed;
      this.o.log.info({ closedConnections: closed, frameLimitBytes: MAX_CONTROL_FRAME_BYTES }, 'connections to the control server closed: peers that left, or that were dropped (a frame over the limit, a failed handshake)');
    }
    const ping = encodeControl({ type: 'ping' });
    for (const peer of this.peers) if (peer !== undefined) this.o.server.send(peer, ping).catch(() => undefined);
  }

  private readonly rankOf = new Map<string, number>();

  /**
   * A message from a peer that has no rank yet. Bytes that are not a tfjs-ddp control message at all
   * (a port scanner, a stray client: possible where the control plane runs without CURVE) are
   * dropped and counted instead of failing the rendezvous; a tfjs-ddp message of another protocol
   * version still fails it, naming the versions.
   */
  private decodeJoin(m: { peer: string; frames: Uint8Array[] }): WorkerToCoordinator | null {
    try {
      return decodeControl<WorkerToCoordinator>(m.frames).msg;
    } catch (e) {
      if (!isDdpError(e, 'E_PROTOCOL') || /protocol version/.test(e.message)) throw e;
      this.rejectedFrames++;
      this.o.log.warn({ peer: m.peer, reason: e.message, rejectedFrames: this.rejectedFrames }, 'message that is not tfjs-ddp ignored');
      return null;
    }
  }

  private readonly turnedAway = new Set<string>();

  /**
   * A tfjs-ddp message other than a join from a peer with no rank here: a worker of an earlier
   * coordinator on this address (killed and restarted at once, its workers alive and reconnecting)
   * still reporting on its run. Dropped and counted, never fatal; the peer is told once to stop, so
   * that it exits now instead of after 30 s without its coordinator's pings.
   */
  private turnAway(peer: string, type: string): void {
    this.rejectedFrames++;
    this.o.log.warn({ peer, type, rejectedFrames: this.rejectedFrames }, 'message from a peer that has not joined this run ignored (a worker of an earlier run on this address?)');
    if (this.turnedAway.has(peer)) return;
    this.turnedAway.add(peer);
    const stop: CoordinatorToWorker = { type: 'stop', reason: 'this coordinator does not know this worker: it belongs to an earlier run on this address' };
    this.o.server.send(peer, encodeControl(stop)).catch(() => undefined);
  }

  /** One short receive (so failures reported meanwhile are seen promptly); null when nothing came. */
  private async poll(leftMs: number): Promise<{ peer: string; frames: Uint8Array[] } | null> {
    try {
      return await this.o.server.recv(Math.min(POLL_MS, leftMs));
    } catch (e) {
      if (isDdpError(e, 'E_TIMEOUT')) return null;
      throw e;
    }
  }

  private async sendTo(rank: number, m: CoordinatorToWorker, binary: Uint8Array[] = []): Promise<void> {
    await this.o.server.send(this.peers[rank]!, encodeControl(m, binary));
  }

  private async join(): Promise<void> {
    const { worldSize, rendezvousTimeoutMs } = this.o;
    // 1. join: every worker says who it is; ranks follow RANK when given, else (host, local rank, pid).
    const joins: { peer: string; msg: Extract<WorkerToCoordinator, { type: 'join' }> }[] = [];
    const deadline = now() + rendezvousTimeoutMs;
    while (joins.length < worldSize) {
      if (this.failure !== null) this.fail(this.failure);
      const left = deadline - now();
      if (left <= 0) this.fail({ kind: 'timeout', missingRanks: Array.from({ length: worldSize - joins.length }, (_, k) => joins.length + k), waitedMs: rendezvousTimeoutMs });
      const m = await this.poll(left);
      if (m === null) continue;
      const msg = this.decodeJoin(m);
      if (msg === null) continue;
      if (msg.type !== 'join') {
        this.turnAway(m.peer, msg.type);
        continue;
      }
      if (msg.version !== this.o.version) {
        this.fail({ kind: 'protocol', rank: null, message: `worker pid ${msg.pid} on ${msg.host} runs tfjs-ddp ${msg.version}, the coordinator ${this.o.version}` });
      }
      if (!joins.some((j) => j.peer === m.peer)) joins.push({ peer: m.peer, msg });
    }
    const requested = joins.map((j) => j.msg.requestedRank);
    if (requested.every((r) => r !== null)) {
      const sorted = [...requested].sort((x, y) => x! - y!);
      if (sorted.some((r, i) => r !== i)) {
        throw new DdpError('E_CONFIG', `the workers' RANK values ${requested.join(',')} are not 0..${worldSize - 1} each once`, 'check RANK / SLURM_PROCID and --world-size');
      }
      joins.sort((x, y) => x.msg.requestedRank! - y.msg.requestedRank!);
    } else {
      joins.sort((x, y) => x.msg.host.localeCompare(y.msg.host) || (x.msg.localRank ?? 0) - (y.msg.localRank ?? 0) || x.msg.pid - y.msg.pid);
    }
    joins.forEach((j, rank) => {
      this.peers[rank] = j.peer;
      this.rankOf.set(j.peer, rank);
    });
    const all = joins.map((_, r) => r);
    // 2. welcome → hello: each builds its engine and binds its ring inbox.
    for (const r of all) await this.sendTo(r, { type: 'welcome', rank: r, worldSize, settings: this.o.settingsFor(r) });
    const hellos = await this.collect('hello', all, rendezvousTimeoutMs);
    this.descriptions = all.map((r) => {
      const h = hellos.get(r)!.msg as Extract<WorkerToCoordinator, { type: 'hello' }>;
      return { rank: r, ...h.description };
    });
    try {
      checkWorkersAgree(this.descriptions);
      checkGpusDistinct(this.descriptions, this.o.shareGpu ?? false);
    } catch (e) {
      await this.close();
      throw e;
    }
    // 3. ring: rank r sends to rank r+1's inbox.
    for (const r of all) {
      const next = hellos.get((r + 1) % worldSize)!.msg as Extract<WorkerToCoordinator, { type: 'hello' }>;
      await this.sendTo(r, { type: 'ring', rightAddress: next.dataAddress });
    }
    await this.collect('ready', all, rendezvousTimeoutMs);
    await this.measureClocks(all);
    // Rank 0's initial weights (and BatchNorm statistics, optimizer slots) to every other rank, as
    // Horovod's broadcast_variables: a model whose initializers are not seeded starts the same on
    // every rank. loadState checks each rank's checksum afterwards.
    const initial = this.descriptions[0]!.weightsHash;
    const differed = this.descriptions.filter((d) => d.weightsHash !== initial).map((d) => d.rank);
    await this.syncFrom(0, all.slice(1));
    if (differed.length > 0) this.o.log.info({ ranks: differed, weightsHash: initial }, 'initial weights differed from rank 0 (unseeded initializers?): replaced by rank 0\'s');
    for (const d of this.descriptions) d.weightsHash = initial;
    const address = (r: number) => (hellos.get(r)!.msg as Extract<WorkerToCoordinator, { type: 'hello' }>).dataAddress;
    this.addresses = all.map(address);
    this.o.log.info({ workers: this.descriptions.map((d) => ({ rank: d.rank, host: d.host, pid: d.pid, backend: d.backend, adapter: d.adapter, microBatch: d.microBatch, dataAddress: address(d.rank) })) }, 'rendezvous done');
  }

  async step(plan: StepPlan): Promise<StepOutcome> {
    this.phase = 'step';
    this.currentStep = plan.step;
    this.watchTag = plan.step;
    const checksum = plan.step % this.o.checksumEvery === 0;
    // An audit step: each rank also gets its neighbour's first micro-batch to recompute (frame 1).
    const audits = plan.audit === true ? auditRequests(plan.slices, plan.auditSelf === true) : [];
    for (const [i, s] of plan.slices.entries()) {
      const a = audits[i];
      const frames = [s.indices, ...(a?.indices != null ? [a.indices] : [])].map((x) => new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
      await this.sendTo(s.rank, { type: 'step', step: plan.step, epoch: plan.epoch, globalCount: plan.globalCount, checksum, microBatch: s.microBatch, attempt: plan.attempt, ...(plan.lrFactor !== undefined ? { lrFactor: plan.lrFactor } : {}), ...(a !== undefined ? { audit: a.request } : {}) }, frames);
    }
    let got: Map<number, Reply>;
    for (const sl of plan.slices) this.microBatchNow.set(sl.rank, sl.microBatch);
    this.silenceWatch = plan.attempt === 0 ? { since: now(), lastLook: now(), microBatch: new Map(plan.slices.map((s) => [s.rank, s.microBatch])) } : null;
    try {
      got = await this.collect('step-done', plan.slices.map((s) => s.rank), this.o.stepTimeoutMs, true);
    } catch (e) {
      if (e instanceof LinkFailed) return this.recoverLink(plan, e);
      if (!(e instanceof RanksLost)) throw e;
      return this.recover(plan, e.lost, e.got);
    } finally {
      this.silenceWatch = null;
      this.watchTag = null;
    }
    this.linkCutRun = null;
    for (const s of plan.slices) {
      const { timings: t, trace } = got.get(s.rank)!.msg as StepDone;
      this.traceFrom(s.rank, trace);
      if (t.microBatches > 0) this.microBatchMs.set(s.rank, { ms: (t.dataMs + t.computeMs) / t.microBatches, microBatch: s.microBatch });
    }
    const replies = plan.slices.map((s) => got.get(s.rank)!.msg as StepDone);
    // Every rank saw the same all-reduced abort flag: they all aborted, or none did.
    const aborted = replies.map((r) => r.aborted);
    if (new Set(aborted).size > 1) this.fail({ kind: 'protocol', rank: aborted.indexOf(!aborted[0]), message: `step ${plan.step}: ranks disagree on whether it was aborted` });
    if (checksum && !aborted[0]) this.checkChecksums(replies.map((r, rank) => ({ rank, checksum: r.checksum })));
    // A rank whose backend crashed took part in the all-reduce (so every rank aborted) and left:
    // replace it before the step is replayed.
    const restarts: RestartRecord[] = [];
    for (const dead of replies.flatMap((r) => (r.oom?.fatal ? [r.oom] : []))) restarts.push(await this.replaceCrashed(dead.rank, Math.max(1, Math.floor(dead.microBatch / 2)), dead.reason));
    const audit = audits.length > 0 && !aborted[0] ? auditReports(replies.map((r, rank) => ({ rank, ...(r.audit !== undefined ? { audit: r.audit } : {}) }))) : undefined;
    return { ...outcomeOf(replies), restarts, ...(audit !== undefined ? { audit } : {}) };
  }

  private checkChecksums(sums: { rank: number; checksum: string | null }[]): void {
    const ref = sums[0]!.checksum;
    const bad = sums.filter((s) => s.checksum !== ref);
    if (bad.length > 0) {
      throw new DdpError('E_DIVERGED', `the weights of ranks ${bad.map((b) => b.rank).join(',')} differ from rank 0's after step ${this.currentStep} (checksums ${sums.map((s) => s.checksum).join(', ')})`, 'this is a bug or a faulty device: report it with the run directory');
    }
  }

  /** Replace the lost ranks, or go on without them, or the error that ends the run (failure-policy.ts). */
  private allowReplacement(lost: LostRank[]): 'replace' | 'shrink' {
    const action = onRanksLost(
      { step: this.currentStep, worldSize: this.size, history: this.history, maxRestarts: this.o.maxRestarts ?? 3, canRespawn: this.o.respawn !== undefined, minWorkers: this.o.minWorkers ?? this.o.worldSize },
      lost,
    );
    if (action.kind === 'abort') throw new DdpError(action.code, action.message, action.hint);
    return action.kind;
  }

  /**
   * Ranks were lost during a step: every other rank leaves it and the group is made whole again
   * (regroup); the step counts as done if a rank had finished it (its state is everyone's now),
   * else it is replayed (aborted: true). Nothing half-applied survives: a rank holds either the
   * state after the step or before it, and all ranks hold the same.
   */
  private async recover(plan: StepPlan, lost: LostRank[], got: Map<number, Reply>, cut?: LinkCut): Promise<StepOutcome> {
    const microBatchOf = (r: number) => plan.slices.find((s) => s.rank === r)?.microBatch ?? this.descriptions[r]!.microBatch;
    for (const [r, reply] of got) this.traceFrom(r, (reply.msg as StepDone).trace);
    const g = await this.regroup(lost, plan.step, `step ${plan.step}`, got, microBatchOf, cut !== undefined ? `the ring link ${cut.from}→${cut.to} failed` : undefined);
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
    this.countCut(e.cut, `step ${plan.step}`);
    return this.recover(plan, [], e.got, e.cut);
  }

  /** Counts a failed link in the work `what`: the error that ends the run at MAX_LINK_CUTS in a row. */
  private countCut(cut: LinkCut, what: string): void {
    this.linkCutRun = this.linkCutRun?.what === what ? { what, count: this.linkCutRun.count + 1 } : { what, count: 1 };
    if (this.linkCutRun.count >= MAX_LINK_CUTS) throw linkGivenUp(cut, what, (r) => this.addresses[r]);
    this.o.log.warn({ step: this.currentStep, during: what, from: cut.from, to: cut.to, ends: cut.ends, cause: cut.cause, reportedBy: cut.reportedBy, inARow: this.linkCutRun.count }, 'a ring link failed between two live ranks: every rank leaves, and the ring is rebuilt');
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
   * Returns the replacements, the membership change, which ranks (numbered now) had finished the
   * step, and each rank's previous number.
   */
  private async regroup(
    lost: LostRank[],
    tag: number,
    what: string,
    got: Map<number, Reply> | null,
    microBatchOf: (rank: number) => number,
    /** Why, when no rank was lost (a ring link failed): every rank leaves and the ring is rebuilt. */
    why?: string,
  ): Promise<{ restarts: RestartRecord[]; membership: MembershipChange | null; finished: number[]; previousRank: number[] }> {
    const action = lost.length === 0 ? 'replace' : this.allowReplacement(lost);
    const all = this.descriptions.map((d) => d.rank);
    const gone = new Set(lost.map((l) => l.rank));
    const survivors = all.filter((r) => !gone.has(r));
    for (const l of lost) {
      this.retired.add(l.pid);
      this.o.log.warn({ rank: l.rank, pid: l.pid, host: l.host, step: this.currentStep, during: what, cause: l.cause, lastLines: l.lastLines }, 'rank lost: every other rank leaves what it was doing');
    }
    // 1. Every survivor leaves.
    for (const r of survivors) await this.sendTo(r, { type: 'abort', step: tag, reason: why ?? `rank ${lost.map((l) => l.rank).join(',')} lost` });
    const left = new Map<number, Extract<WorkerToCoordinator, { type: 'left' }>>();
    const deadline = now() + this.o.stepTimeoutMs;
    while (!survivors.every((r) => left.has(r))) {
      if (this.failure !== null) this.fail(this.failure);
      for (const r of this.pending.splice(0)) {
        if (r.msg.type === 'error') this.fail({ kind: 'worker-error', rank: r.rank, code: r.msg.code, message: r.msg.message });
        if (r.msg.type === 'left' && r.msg.step === tag) left.set(r.rank, r.msg);
        else if (r.msg.type === 'step-done' && r.msg.step === tag && got !== null) got.set(r.rank, r);
        // An evaluation or a save answered before the abort came: it is done again.
        else if (tag < 0 && (r.msg.type === 'eval-done' || r.msg.type === 'saved')) continue;
        else this.fail({ kind: 'protocol', rank: r.rank, message: `sent ${r.msg.type} while leaving ${what}` });
      }
      if (survivors.every((r) => left.has(r))) break;
      const rest = deadline - now();
      if (rest <= 0) this.fail({ kind: 'timeout', missingRanks: survivors.filter((r) => !left.has(r)), waitedMs: this.o.stepTimeoutMs });
      const m = await this.receive(rest);
      if (m !== null) this.pending.push(m);
    }
    // What was reported before every rank left is moot now: the ring is made anew.
    this.linkReports.clear();
    const applied = (r: number) => tag >= 0 && left.get(r)!.applied;
    if (action === 'shrink') {
      // 2. A smaller ring of the survivors, renumbered in their order.
      this.peers.splice(0, this.peers.length, ...survivors.map((r) => this.peers[r]!));
      this.rankOf.clear();
      this.peers.forEach((p, r) => this.rankOf.set(p, r));
      this.descriptions = survivors.map((r, i) => ({ ...this.descriptions[r]!, rank: i }));
      this.addresses = survivors.map((r) => left.get(r)!.dataAddress);
      const micro = new Map(survivors.flatMap((r, i) => (this.microBatchNow.has(r) ? [[i, this.microBatchNow.get(r)!] as const] : [])));
      this.microBatchNow.clear();
      micro.forEach((m, r) => this.microBatchNow.set(r, m));
      this.lastSeen.clear();
      this.microBatchMs.clear();
      this.size = survivors.length;
      await this.rewire(survivors.map((_, i) => i), true);
      const finished = survivors.flatMap((r, i) => (applied(r) ? [i] : []));
      if (finished.length > 0) await this.syncFrom(finished[0]!, survivors.map((_, i) => i).filter((i) => !finished.includes(i)));
      const membership = { kind: 'shrink' as const, previousRank: survivors, lost: lost.map(({ rank, pid, host, cause }) => ({ rank, pid, host, cause })) };
      this.o.log.warn({ step: this.currentStep, during: what, lost: membership.lost, workers: this.size, minWorkers: this.o.minWorkers, finishedBy: finished }, 'going on without the lost ranks');
      return { restarts: [], membership, finished, previousRank: survivors };
    }
    // 2. New processes for the lost ranks, at the micro-batch they had.
    const restarts: RestartRecord[] = [];
    for (const l of lost) {
      const newPid = await this.respawnRank(l.rank, microBatchOf(l.rank), true);
      restarts.push({ ...l, step: this.currentStep, newPid });
    }
    this.history.push(...restarts);
    // 3. The ring, whole again (every survivor bound a new inbox), and one state everywhere.
    for (const [r, m] of left) this.addresses[r] = m.dataAddress;
    await this.rewire(all);
    const finished = survivors.filter(applied);
    const source = finished[0] ?? survivors[0]!;
    await this.syncFrom(source, [...gone, ...(finished.length > 0 ? survivors.filter((r) => !applied(r)) : [])]);
    if (lost.length === 0) this.o.log.info({ step: this.currentStep, during: what, finishedBy: finished, source }, 'ring rebuilt and re-synced');
    else this.o.log.info({ step: this.currentStep, during: what, replaced: restarts.map((r) => ({ rank: r.rank, oldPid: r.pid, newPid: r.newPid })), finishedBy: finished, source }, 'ranks replaced and re-synced');
    return { restarts, membership: null, finished, previousRank: all };
  }

  /**
   * Runs an evaluation or a save (each starts with an all-reduce of the BatchNorm statistics) and, if
   * ranks are lost meanwhile, makes the group whole and runs it again. What changed is reported by
   * the next between().
   */
  private async collective<T>(what: 'evaluation' | 'the checkpoint', run: (collective: number) => Promise<T>): Promise<T> {
    for (;;) {
      const collective = ++this.collectives;
      this.watchTag = -collective;
      try {
        const out = await run(collective);
        this.linkCutRun = null;
        return out;
      } catch (e) {
        if (e instanceof LinkFailed) {
          this.countCut(e.cut, what);
          await this.regroup([], -collective, what, null, (r) => this.microBatchNow.get(r) ?? this.descriptions[r]!.microBatch, `the ring link ${e.cut.from}→${e.cut.to} failed`);
          continue;
        }
        if (!(e instanceof RanksLost)) throw e;
        const g = await this.regroup(e.lost, -collective, what, null, (r) => this.microBatchNow.get(r) ?? this.descriptions[r]!.microBatch);
        this.changes.restarts.push(...g.restarts);
        if (g.membership !== null) this.changes.membership = composeMembership(this.changes.membership, g.membership);
      } finally {
        this.watchTag = null;
      }
    }
  }

  async between(): Promise<{ restarts: RestartRecord[]; membership: MembershipChange | null }> {
    const joined = await this.admit();
    if (joined !== null) this.changes.membership = composeMembership(this.changes.membership, joined);
    const out = this.changes;
    this.changes = { restarts: [], membership: null };
    return out;
  }

  /**
   * Between steps: takes in workers that asked to join while the run is below its world size (after
   * an elastic shrink). Each gets the next rank, builds its engine, joins the ring and a healthy
   * rank's state. A joiner whose model or data differs is sent away; the run goes on.
   */
  private readonly joinBackoff = new JoinBackoff();

  /**
   * The hello of a worker being taken in at `rank`, or why it failed: an error it reported (its
   * data is not there, its engine did not build), another message, silence (no answer to the pings
   * for JOINER_SILENCE_MS) or no hello within `timeoutMs`. A failure of a rank already in the run
   * still fails the group. Messages of other ranks wait in `pending`.
   */
  private async joinerHello(rank: number, timeoutMs: number): Promise<Extract<WorkerToCoordinator, { type: 'hello' }> | string> {
    const start = now();
    for (;;) {
      if (this.failure !== null) this.fail(this.failure);
      const at = this.pending.findIndex((r) => r.rank === rank);
      if (at >= 0) {
        const { msg } = this.pending.splice(at, 1)[0]!;
        if (msg.type === 'hello') return msg;
        return msg.type === 'error' ? `${msg.code}: ${msg.message}` : `it sent ${msg.type} where its hello was expected`;
      }
      const t = now();
      if (t - Math.max(this.lastSeen.get(rank)?.at ?? 0, start) > JOINER_SILENCE_MS) return `it answered no ping for ${JOINER_SILENCE_MS / 1000} s`;
      if (t - start > timeoutMs) return `no hello within ${Math.round(timeoutMs / 1000)} s`;
      const m = await this.receive(Math.min(POLL_MS, timeoutMs));
      if (m !== null) this.pending.push(m);
    }
  }

  private async admit(): Promise<MembershipChange | null> {
    if (this.joiners.length === 0 || this.size >= this.o.worldSize) return null;
    const before = this.size;
    const { rendezvousTimeoutMs } = this.o;
    for (const j of this.joiners.splice(0, this.o.worldSize - this.size)) {
      const rank = this.size;
      this.peers[rank] = j.peer;
      this.rankOf.set(j.peer, rank);
      await this.sendTo(rank, { type: 'welcome', rank, worldSize: rank + 1, settings: this.o.settingsFor(rank) });
      const hello = await this.joinerHello(rank, rendezvousTimeoutMs);
      if (typeof hello === 'string') {
        const kept = this.joinBackoff.failed(j.msg.host, hello, Date.now());
        this.o.log.warn({ pid: j.msg.pid, host: j.msg.host, reason: hello, failures: kept.failures, keptOutUntil: new Date(kept.until).toISOString() }, 'a joining worker failed before it was taken in: sent away');
        await this.sendTo(rank, { type: 'stop', reason: `it failed to join (${hello})` }).catch(() => undefined);
        this.rankOf.delete(j.peer);
        this.peers.length = rank;
        continue;
      }
      this.joinBackoff.succeeded(j.msg.host);
      const d = { ...hello.description, rank };
      try {
        checkWorkersAgree([this.descriptions[0]!, d]);
      } catch (e) {
        this.o.log.warn({ pid: j.msg.pid, host: j.msg.host, reason: e instanceof Error ? e.message : String(e) }, 'a joining worker differs from the run: sent away');
        await this.sendTo(rank, { type: 'stop', reason: 'it differs from the run' });
        this.rankOf.delete(j.peer);
        this.peers.length = rank;
        continue;
      }
      this.descriptions[rank] = d;
      this.addresses[rank] = hello.dataAddress;
      this.size++;
    }
    if (this.size === before) return null;
    const added = Array.from({ length: this.size - before }, (_, k) => before + k);
    // Until the new ranks hold the run's state, one that dies or fails undoes the join: the run goes
    // on as it was, without them.
    this.joining = { ranks: added, since: now() };
    try {
      await this.rewire(this.descriptions.map((d) => d.rank), true);
      await this.syncFrom(0, added);
    } catch (e) {
      if (!(e instanceof JoinerLost)) throw e;
      await this.undoJoin(before, added, e);
      return null;
    } finally {
      this.joining = null;
    }
    this.o.log.info({ step: this.currentStep, workers: this.size, added: added.map((r) => ({ rank: r, pid: this.descriptions[r]!.pid, host: this.descriptions[r]!.host })) }, 'workers joined the run');
    return { kind: 'grow', previousRank: [...Array.from({ length: before }, (_, r) => r), ...added.map(() => null)], lost: [] };
  }

  /**
   * A worker taken in failed while the ring was rewired or it was synced: every worker of this
   * admission is sent away (the failed one's host counts a failed join), and the ring of the `before`
   * ranks that were there is made again; their state never changed.
   */
  private async undoJoin(before: number, added: number[], e: JoinerLost): Promise<void> {
    const lost = this.descriptions[e.rank]!;
    const kept = this.joinBackoff.failed(lost.host, e.reason, Date.now());
    this.o.log.warn({ rank: e.rank, pid: lost.pid, host: lost.host, reason: e.reason, failures: kept.failures, keptOutUntil: new Date(kept.until).toISOString() }, 'a joining worker failed while it was synced: the join is undone and the run goes on as it was');
    for (const r of added) {
      await this.sendTo(r, { type: 'stop', reason: r === e.rank ? `it failed to join (${e.reason})` : 'another worker of its join failed: join again' }).catch(() => undefined);
      this.rankOf.delete(this.peers[r]!);
      this.lastSeen.delete(r);
    }
    this.peers.length = before;
    this.descriptions.length = before;
    this.addresses.length = before;
    this.size = before;
    this.pending = this.pending.filter((r) => r.rank < before);
    await this.rewire(this.descriptions.map((d) => d.rank), true);
  }

  /**
   * Replaces a rank whose backend crashed: it took part in the step's all-reduce (every rank
   * aborted the step), so the ring only needs the new process spliced in.
   */
  private async replaceCrashed(rank: number, microBatch: number, reason: string): Promise<RestartRecord> {
    const old = this.descriptions[rank]!;
    const lost = this.lostRank(rank, `crashed its backend (${reason})`);
    this.allowReplacement([lost]);
    this.o.log.warn({ rank, pid: old.pid, step: this.currentStep, reason, microBatch }, 'replacing a rank whose backend crashed');
    this.retired.add(old.pid);
    await this.sendTo(rank, { type: 'stop', reason: 'replaced: its backend crashed' });
    const newPid = await this.respawnRank(rank, microBatch, false);
    await this.rewire([rank, (rank + this.size - 1) % this.size]);
    await this.syncFrom(rank === 0 ? 1 : 0, [rank]);
    const record = { ...lost, step: this.currentStep, newPid };
    this.history.push(record);
    return record;
  }

  /**
   * Starts a new process for `rank`: it joins, builds its engine (micro-batch `microBatch`, no
   * search) and binds its ring inbox; returns its pid. The ring and its state come after.
   */
  private async respawnRank(rank: number, microBatch: number, kill: boolean): Promise<number> {
    const { rendezvousTimeoutMs } = this.o;
    const worldSize = this.size;
    const old = this.descriptions[rank]!;
    const oldPeer = this.peers[rank]!;
    this.rankOf.delete(oldPeer);
    await this.o.respawn!(rank, kill);
    // join → welcome → hello, as at the start, for this rank alone.
    const deadline = now() + rendezvousTimeoutMs;
    for (;;) {
      if (this.failure !== null) this.fail(this.failure);
      if (now() > deadline) this.fail({ kind: 'timeout', missingRanks: [rank], waitedMs: rendezvousTimeoutMs });
      const m = await this.poll(deadline - now());
      if (m === null || m.peer === oldPeer) continue;
      const msg = this.decodeJoin(m);
      if (msg === null || msg.type !== 'join') continue;
      if (msg.version !== this.o.version) this.fail({ kind: 'protocol', rank, message: `the replacement of rank ${rank} runs tfjs-ddp ${msg.version}` });
      this.peers[rank] = m.peer;
      this.rankOf.set(m.peer, rank);
      break;
    }
    await this.sendTo(rank, { type: 'welcome', rank, worldSize, settings: { ...this.o.settingsFor(rank), microBatch } });
    const hello = (await this.collect('hello', [rank], rendezvousTimeoutMs)).get(rank)!.msg as Extract<WorkerToCoordinator, { type: 'hello' }>;
    if (hello.description.params !== old.params) this.fail({ kind: 'protocol', rank, message: `the replacement built ${hello.description.params} parameters, not ${old.params}` });
    this.descriptions[rank] = { ...hello.description, rank, microBatch: old.microBatch, memoryFit: old.memoryFit };
    this.addresses[rank] = hello.dataAddress;
    this.lastSeen.delete(rank);
    this.microBatchMs.delete(rank);
    return hello.description.pid;
  }

  /**
   * Tells each of `ranks` where its right neighbour's inbox is now (and, when the ring changed size,
   * its rank and the world size), and waits until each is connected.
   */
  private async rewire(ranks: number[], resized = false): Promise<void> {
    const n = this.size;
    for (const r of ranks) await this.sendTo(r, { type: 'ring', rightAddress: this.addresses[(r + 1) % n]!, ...(resized ? { rank: r, worldSize: n } : {}) });
    await this.collect('ready', ranks, this.o.rendezvousTimeoutMs);
    await this.measureClocks(ranks);
  }

  /**
   * The clock offset of each of `ranks` not measured yet (a new process), when the run writes a
   * timeline: a few 'clock' round trips, NTP-style, keeping the shortest (its midpoint is closest to
   * the worker's reading). On one host the offset is a fraction of a millisecond; across hosts it is
   * what NTP leaves, and each span is moved by it.
   */
  private async measureClocks(ranks: number[]): Promise<void> {
    if (this.o.trace === undefined) return;
    for (const r of ranks) {
      const peer = this.peers[r]!;
      if (this.clocks.has(peer)) continue;
      let best: { offsetMs: number; rttMs: number } | null = null;
      for (let k = 0; k < CLOCK_ROUNDS; k++) {
        const t0 = traceClock();
        await this.sendTo(r, { type: 'clock' });
        const reply = (await this.collect('clock', [r], this.o.rendezvousTimeoutMs)).get(r)!.msg as Extract<WorkerToCoordinator, { type: 'clock' }>;
        const t1 = traceClock();
        const sample = { offsetMs: reply.now - (t0 + t1) / 2, rttMs: t1 - t0 };
        if (best === null || sample.rttMs < best.rttMs) best = sample;
      }
      this.clocks.set(peer, best!);
      const d = this.descriptions[r];
      this.o.log.info({ rank: r, pid: d?.pid, host: d?.host, clockOffsetMs: best!.offsetMs, roundTripMs: best!.rttMs }, 'clock offset measured for the timeline');
    }
  }

  /** A rank's spans (its trace clock) to the timeline, on ours. */
  private traceFrom(rank: number, spans: TraceSpan[] | undefined): void {
    const sink = this.o.trace;
    if (sink === undefined || spans === undefined || spans.length === 0) return;
    const clock = this.clocks.get(this.peers[rank]!) ?? { offsetMs: 0, rttMs: Number.NaN };
    const d = this.descriptions[rank]!;
    sink(rank, spans.map((s) => ({ ...s, start: s.start - clock.offsetMs, end: s.end - clock.offsetMs })), { pid: d.pid, host: d.host, clockOffsetMs: clock.offsetMs });
  }

  /** Copies rank `source`'s training state (weights, BatchNorm statistics, optimizer slots) into `targets`. */
  private async syncFrom(source: number, targets: number[]): Promise<void> {
    if (targets.length === 0) return;
    const { msg: state, binary } = await this.exportState(source);
    await this.loadState(targets, state.optimizer, binary, state.checksum, `the state of rank ${source}`);
    this.o.log.info({ targets, from: source, checksum: state.checksum }, 'ranks re-synced');
  }

  async evaluate(limit: number | null = null): Promise<EvalOutcome> {
    this.phase = 'eval';
    return this.collective('evaluation', async (collective) => {
      const shards = evalShards(Math.min(this.descriptions[0]!.testCount, limit ?? Infinity), this.worldSize);
      for (let r = 0; r < this.worldSize; r++) await this.sendTo(r, { type: 'eval', start: shards[r]!.start, end: shards[r]!.end, collective });
      const replies = await this.collect('eval-done', shards.map((_, r) => r), this.o.stepTimeoutMs, true);
      const out: EvalOutcome = { lossSum: 0, correct: 0, count: 0, metrics: (this.descriptions[0]!.metricNames ?? []).map(() => 0) };
      for (const { rank, msg } of replies.values()) {
        const e = msg as Extract<WorkerToCoordinator, { type: 'eval-done' }>;
        this.traceFrom(rank, e.trace);
        out.lossSum += e.lossSum;
        out.correct += e.correct;
        out.count += e.count;
        e.metrics?.forEach((v, j) => (out.metrics![j]! += v));
      }
      return out;
    });
  }

  async checksums(): Promise<string[]> {
    for (let r = 0; r < this.worldSize; r++) await this.sendTo(r, { type: 'checksum' });
    const replies = await this.collect('checksum-done', this.descriptions.map((d) => d.rank), this.o.stepTimeoutMs);
    const done = this.descriptions.map((d) => replies.get(d.rank)!.msg as Extract<WorkerToCoordinator, { type: 'checksum-done' }>);
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
      rejected_frames: this.rejectedFrames,
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
    this.phase = 'save';
    return this.collective('the checkpoint', async (collective) => {
      for (let r = 0; r < this.worldSize; r++) await this.sendTo(r, { type: 'save', meta, collective });
      const replies = await this.collect('saved', this.descriptions.map((d) => d.rank), this.o.stepTimeoutMs, true);
      const zero = replies.get(0)!;
      const sent = (zero.msg as Extract<WorkerToCoordinator, { type: 'saved' }>).names;
      if (!Array.isArray(sent) || sent.length !== zero.binary.length) this.fail({ kind: 'protocol', rank: 0, message: `saved ${Array.isArray(sent) ? sent.length : 'no list of'} names with ${zero.binary.length} files` });
      // Names from the wire: only the model's own files, each once (never a path: security/wire-paths.ts).
      const names = checkWireFileNames(sent, `rank 0 (pid ${this.descriptions[0]?.pid ?? '?'})`);
      const checksums = this.descriptions.map((d) => (replies.get(d.rank)!.msg as Extract<WorkerToCoordinator, { type: 'saved' }>).checksum);
      const bad = checksums.findIndex((c) => c !== undefined && (typeof c !== 'string' || c.length > 64));
      if (bad >= 0) this.fail({ kind: 'protocol', rank: bad, message: 'saved with a checksum that is not a string of at most 64 characters' });
      return { files: Object.fromEntries(names.map((n, i) => [n, zero.binary[i]!])), checksums: checksums.every((c) => c !== undefined) ? checksums : undefined };
    });
  }

  /** Rank `source`'s training state (weights, BatchNorm statistics, optimizer slots) and its checksum. */
  private async exportState(source: number): Promise<{ msg: Extract<WorkerToCoordinator, { type: 'state' }>; binary: Uint8Array[] }> {
    await this.sendTo(source, { type: 'export-state' });
    const st = (await this.collect('state', [source], this.o.stepTimeoutMs)).get(source)!;
    return { msg: st.msg as Extract<WorkerToCoordinator, { type: 'state' }>, binary: st.binary };
  }

  /** Loads a training state into `ranks` and checks that each then has `checksum`. */
  private async loadState(ranks: number[], optimizer: { name: string; shape: number[] }[], binary: Uint8Array[], checksum: string, from: string): Promise<void> {
    for (const r of ranks) await this.sendTo(r, { type: 'load-state', optimizer }, binary);
    const loaded = await this.collect('state-loaded', ranks, this.o.stepTimeoutMs);
    const digest = stateDigest(binary, optimizer.map((o) => o.shape));
    for (const r of ranks) {
      const got = loaded.get(r)!.msg as Extract<WorkerToCoordinator, { type: 'state-loaded' }>;
      if (got.checksum !== checksum) throw new DdpError('E_DIVERGED', `rank ${r} has weights ${got.checksum} after loading ${from} (checksum ${checksum})`, 'this is a bug, or the state belongs to another model: report it with the run directory');
      // The weights agree; the optimizer slots and BatchNorm statistics must too.
      if (got.stateDigest !== digest) throw new DdpError('E_DIVERGED', `rank ${r} holds a training state other than ${from} after loading it: its weights agree (checksum ${checksum}), its optimizer slots or BatchNorm statistics do not (state digest ${String(got.stateDigest).slice(0, 16)}…, sent ${digest.slice(0, 16)}…)`, 'this is a bug, or the state was taken with another optimizer: report it with the run directory');
    }
  }

  async snapshot(meta: Record<string, unknown>): Promise<{ files: Record<string, Uint8Array>; state: TrainingState; checksums?: string[] }> {
    const { files, checksums } = await this.modelFiles(meta);
    const { msg, binary } = await this.exportState(0);
    const floats = (b: Uint8Array) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    if (binary.length !== 2 + msg.optimizer.length) this.fail({ kind: 'protocol', rank: 0, message: `state with ${binary.length} frames for ${msg.optimizer.length} optimizer slots` });
    return {
      files,
      ...(checksums !== undefined ? { checksums } : {}),
      state: { checksum: msg.checksum, weights: floats(binary[0]!), batchNorm: floats(binary[1]!), optimizer: msg.optimizer.map((o, i) => ({ ...o, data: floats(binary[2 + i]!) })) },
    };
  }

  async restore(state: TrainingState): Promise<void> {
    const bytes = (f: Float32Array) => new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
    const optimizer = state.optimizer.map((o) => ({ name: o.name, shape: o.shape }));
    await this.loadState(this.descriptions.map((d) => d.rank), optimizer, [bytes(state.weights), bytes(state.batchNorm), ...state.optimizer.map((o) => bytes(o.data))], state.checksum, 'the checkpoint');
  }

  async close(reason = 'done'): Promise<void> {
    if (this.pinger !== null) clearInterval(this.pinger);
    for (let r = 0; r < this.peers.length; r++) await this.sendTo(r, { type: 'stop', reason }).catch(() => undefined);
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
