// The group's one I/O executor on the control plane: it sends requests to ranks, and receives and
// sorts every message from the control server. Replies wait in `pending` until a wait takes them;
// progress and link reports are recorded; joins of workers outside the run are queued for the next
// step boundary; anything from a peer without a rank is dropped and counted. Nothing waits
// forever: replies are awaited with a deadline, polled in short slices so that a worker's exit
// (reported by the launcher) is seen within a fraction of a second. The decisions are the
// policies' (policy/*.ts) and the wait watch's (stall-watch.ts); this file only acts on them.
import {
  DdpError,
  decodeControl,
  encodeControl,
  isDdpError,
  MAX_CONTROL_FRAME_BYTES,
  type CoordinatorToWorker,
  type WorkerToCoordinator,
} from '@tfjs-ddp/core';
import { JoinBackoff } from '../policy/join-backoff';
import { decide, exitCause, type FailureEvent, type LostRank, type Phase } from '../policy/failure-policy';
import { SILENCE_MS, type Seen } from '../policy/liveness';
import { now, type JoinMsg, type RemoteGroupOptions, type Reply } from './group-options';
import type { LinkReports } from './link-reports';
import { Roster } from './roster';
import { JoinerLost, RanksLost } from './wait-errors';

const POLL_MS = 200;

/** What a step's (or a collective's) wait consults besides the replies: silence, stalls, failed links. */
export interface WaitWatch {
  readonly linkReports: LinkReports;
  /** During a recoverable wait: throws RanksLost or LinkFailed when it should end early. */
  during(got: Map<number, Reply>, ranks: number[]): Promise<void>;
  /** At the deadline of a wait during a step: the missing ranks that do not answer a probe. */
  stalled(missing: number[], waitedMs: number): Promise<LostRank[]>;
}

export class ControlIo {
  readonly roster: Roster;
  phase: Phase = 'rendezvous';
  currentStep = 0;
  /** What the launcher reported (a worker exited), until a wait acts on it. */
  failure: FailureEvent | null = null;
  /** Replies received and not yet taken by a wait. */
  pending: Reply[] = [];
  /** Pids of processes replaced on purpose: their exit is not a failure. */
  readonly retired = new Set<number>();
  /** Where each rank last said it was (progress messages), and when. */
  readonly lastSeen = new Map<number, Seen>();
  /** Messages dropped because no rank sent them, or they did not decode before ranks were known. */
  rejectedFrames = 0;
  /** Workers that asked to join mid-run (an elastic run takes them in at the next step boundary). */
  readonly joiners: { peer: string; msg: JoinMsg }[] = [];
  /** Hosts kept out after failed joins (policy/join-backoff.ts). */
  readonly joinBackoff = new JoinBackoff();
  /** Workers being taken in (admission.ts), until they are synced: their silence or error undoes the join. */
  joining: { ranks: number[]; since: number } | null = null;
  /** Set by the group: silence, stalls and link reports during a step's wait. */
  watch: WaitWatch | null = null;
  /** The control server's closed connections last logged. */
  private closedSeen = 0;
  private readonly turnedAway = new Set<string>();

  constructor(readonly o: RemoteGroupOptions) {
    this.roster = new Roster(o.worldSize);
  }

  /** The launcher reports a worker's exit here; the wait in progress fails with the root cause. */
  reportFailure(e: FailureEvent): void {
    if (e.kind === 'exited' && this.retired.has(e.pid)) return;
    this.failure ??= e;
  }

  /** The error that ends the run for `e`, by the failure policy. */
  fail(e: FailureEvent): never {
    const a = decide({ phase: this.phase, step: this.currentStep, worldSize: this.roster.size }, e);
    if (a.kind === 'stop') throw new DdpError('E_INTERNAL', `stop requested (${a.reason})`);
    throw new DdpError(a.code, a.message, a.hint);
  }

  /**
   * Receives until one reply of `type` arrived from each rank in `ranks`, or fails. With `recoverable`
   * (a step's wait), a rank that exits, or that stalls past the deadline, throws RanksLost instead.
   */
  async collect(type: WorkerToCoordinator['type'], ranks: number[], timeoutMs: number, recoverable = false): Promise<Map<number, Reply>> {
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
      if (recoverable) await this.watch?.during(got, ranks);
      const left = deadline - now();
      if (left <= 0) {
        const missing = ranks.filter((r) => !got.has(r));
        const stalled = this.phase === 'step' && this.watch !== null ? await this.watch.stalled(missing, timeoutMs) : [];
        if (recoverable && stalled.length > 0) throw new RanksLost(stalled, got);
        this.fail({ kind: 'timeout', missingRanks: missing, waitedMs: timeoutMs, ...(stalled.length > 0 ? { detail: stalled.map((l) => `rank ${l.rank} (pid ${l.pid}${l.host ? ` on ${l.host}` : ''}) ${l.cause}`).join('; ') } : {}) });
      }
      await this.receiveInto(left);
    }
  }

  /** One short receive; a reply from a rank goes to `pending`. */
  async receiveInto(leftMs: number): Promise<void> {
    const m = await this.receive(leftMs);
    if (m !== null) this.pending.push(m);
  }

  /**
   * The next message from a rank, or null when none came within a short slice. Progress reports are
   * recorded here and not returned; messages from unknown peers are dropped and counted.
   */
  private async receive(leftMs: number): Promise<Reply | null> {
    const m = await this.poll(leftMs);
    if (m === null) return null;
    const rank = this.roster.rankOf(m.peer);
    if (rank === undefined) {
      this.fromStranger(m);
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
      this.watch?.linkReports.add(rank, reply.msg);
      return null;
    }
    if (reply.msg.type === 'step-done') this.lastSeen.set(rank, { step: reply.msg.step, phase: 'idle', at: now() });
    return reply;
  }

  /** A message from a peer with no rank, mid-run: a join is queued (or its host kept out); the rest is turned away. */
  private fromStranger(m: { peer: string; frames: Uint8Array[] }): void {
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
        return;
      }
      if (!this.joiners.some((j) => j.peer === m.peer)) this.joiners.push({ peer: m.peer, msg });
      this.o.log.info({ pid: msg.pid, host: msg.host, waiting: this.joiners.length }, 'a worker asks to join: taken in at the next step boundary if the run is below its world size');
      return;
    }
    if (msg !== null) this.turnAway(m.peer, msg.type);
  }

  /** Rank `r`, as described now, lost for `cause`, with the last lines of its log (local workers). */
  lostRank(r: number, cause: string): LostRank {
    const d = this.roster.description(r);
    return { rank: r, pid: d.pid, host: d.host, cause, lastLines: this.o.logTail?.(r) ?? [] };
  }

  pingAll(): void {
    // libzmq drops a peer that sends a frame over the control limit with no word but a disconnect.
    const closed = this.o.server.closedConnections?.() ?? 0;
    if (closed > this.closedSeen) {
      this.closedSeen = closed;
      this.o.log.info({ closedConnections: closed, frameLimitBytes: MAX_CONTROL_FRAME_BYTES }, 'connections to the control server closed: peers that left, or that were dropped (a frame over the limit, a failed handshake)');
    }
    const ping = encodeControl({ type: 'ping' });
    for (const peer of this.roster.peers) if (peer !== undefined) this.o.server.send(peer, ping).catch(() => undefined);
  }

  /**
   * A message from a peer that has no rank yet. Bytes that are not a tfjs-ddp control message at all
   * (a port scanner, a stray client: possible where the control plane runs without CURVE) are
   * dropped and counted instead of failing the rendezvous; a tfjs-ddp message of another protocol
   * version still fails it, naming the versions.
   */
  decodeJoin(m: { peer: string; frames: Uint8Array[] }): WorkerToCoordinator | null {
    try {
      return decodeControl<WorkerToCoordinator>(m.frames).msg;
    } catch (e) {
      if (!isDdpError(e, 'E_PROTOCOL') || /protocol version/.test(e.message)) throw e;
      this.rejectedFrames++;
      this.o.log.warn({ peer: m.peer, reason: e.message, rejectedFrames: this.rejectedFrames }, 'message that is not tfjs-ddp ignored');
      return null;
    }
  }

  /**
   * A tfjs-ddp message other than a join from a peer with no rank here: a worker of an earlier
   * coordinator on this address (killed and restarted at once, its workers alive and reconnecting)
   * still reporting on its run. Dropped and counted, never fatal; the peer is told once to stop, so
   * that it exits now instead of after 30 s without its coordinator's pings.
   */
  turnAway(peer: string, type: string): void {
    this.rejectedFrames++;
    this.o.log.warn({ peer, type, rejectedFrames: this.rejectedFrames }, 'message from a peer that has not joined this run ignored (a worker of an earlier run on this address?)');
    if (this.turnedAway.has(peer)) return;
    this.turnedAway.add(peer);
    const stop: CoordinatorToWorker = { type: 'stop', reason: 'this coordinator does not know this worker: it belongs to an earlier run on this address' };
    this.o.server.send(peer, encodeControl(stop)).catch(() => undefined);
  }

  /** Tells a worker that joined but has no rank yet to stop, with why (it prints the reason and exits). */
  release(peer: string, reason: string): void {
    const stop: CoordinatorToWorker = { type: 'stop', reason };
    this.o.server.send(peer, encodeControl(stop)).catch(() => undefined);
  }

  /** One short receive (so failures reported meanwhile are seen promptly); null when nothing came. */
  async poll(leftMs: number): Promise<{ peer: string; frames: Uint8Array[] } | null> {
    try {
      return await this.o.server.recv(Math.min(POLL_MS, leftMs));
    } catch (e) {
      if (isDdpError(e, 'E_TIMEOUT')) return null;
      throw e;
    }
  }

  async sendTo(rank: number, m: CoordinatorToWorker, binary: Uint8Array[] = []): Promise<void> {
    await this.o.server.send(this.roster.peers[rank]!, encodeControl(m, binary));
  }

  /** Tells every rank's process to stop (each send may fail: the process may be gone). */
  async stopAll(reason: string): Promise<void> {
    for (let r = 0; r < this.roster.peers.length; r++) await this.sendTo(r, { type: 'stop', reason }).catch(() => undefined);
    // Workers still waiting to be taken in would wait for a welcome that never comes.
    for (const j of this.joiners.splice(0)) this.release(j.peer, `the run ended before it took this worker in (${reason})`);
  }
}
