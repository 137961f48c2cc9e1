// RemoteWorkerGroup: the WorkerGroup of N worker processes (local or on other hosts) driven over the
// control plane. Rendezvous assigns ranks, checks that every worker built the same model from the
// same data, and wires the ring; then each step/eval/save is one request to every rank and one reply
// from each. Nothing waits forever: replies are awaited with a deadline, polled in short slices so
// that a worker's exit (reported by the launcher) fails the run within a fraction of a second.
import {
  DdpError,
  decodeControl,
  encodeControl,
  isDdpError,
  writeDirAtomically,
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
} from '@tfjs-ddp/core';
import { evalShards } from '@tfjs-ddp/data';
import { decide, type FailureEvent, type Phase } from './policy/failure-policy';
import { checkGpusDistinct } from './policy/gpu-assignment';
import { checkWorkersAgree, type LoopLogger } from './train-loop';

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
   * Starts a new process for `rank` (once the old one has exited), which joins like the first did:
   * how a rank whose backend crashed is replaced. Without it (workers on other hosts) such a crash
   * ends the run.
   */
  respawn?: (rank: number) => Promise<void>;
  /** Allow several ranks of one host on one GPU adapter (--share-gpu). */
  shareGpu?: boolean;
  /** How the sockets are secured, and the coordinator's own count of refused connections. */
  security?: { mode: SecurityReport['security']; rejectedConnections: () => number };
}

type Reply = { rank: number; msg: WorkerToCoordinator; binary: Uint8Array[] };

const POLL_MS = 200;

export class RemoteWorkerGroup implements WorkerGroup {
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
  /** Each rank's count of refused connections, from its last checksum-done. */
  private rejectedByRank: (number | null)[] = [];

  private constructor(private readonly o: RemoteGroupOptions) {}

  /** Waits for worldSize workers, assigns ranks, checks they agree and connects the ring. */
  static async rendezvous(o: RemoteGroupOptions, launched?: (g: RemoteWorkerGroup) => void): Promise<RemoteWorkerGroup> {
    const g = new RemoteWorkerGroup(o);
    launched?.(g);
    await g.join();
    return g;
  }

  get worldSize(): number {
    return this.o.worldSize;
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
    const a = decide({ phase: this.phase, step: this.currentStep, worldSize: this.o.worldSize }, e);
    if (a.kind === 'stop') throw new DdpError('E_INTERNAL', `stop requested (${a.reason})`);
    throw new DdpError(a.code, a.message, a.hint);
  }

  /** Receives until `want` replies of `type` arrived (one per rank in `ranks`), or fails. */
  private async collect(type: WorkerToCoordinator['type'], ranks: number[], timeoutMs: number): Promise<Map<number, Reply>> {
    const got = new Map<number, Reply>();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.failure !== null) this.fail(this.failure);
      for (const r of this.pending.splice(0)) {
        if (r.msg.type === 'error') this.fail({ kind: 'worker-error', rank: r.rank, code: r.msg.code, message: r.msg.message });
        if (r.msg.type !== type) this.fail({ kind: 'protocol', rank: r.rank, message: `sent ${r.msg.type} while ${type} was expected` });
        got.set(r.rank, r);
      }
      if (ranks.every((r) => got.has(r))) return got;
      const left = deadline - Date.now();
      if (left <= 0) this.fail({ kind: 'timeout', missingRanks: ranks.filter((r) => !got.has(r)), waitedMs: timeoutMs });
      const m = await this.poll(left);
      if (m === null) continue;
      const rank = this.rankOf.get(m.peer);
      if (rank === undefined) {
        this.rejectedFrames++;
        this.o.log.warn({ peer: m.peer, rejectedFrames: this.rejectedFrames }, 'message from an unknown peer ignored');
        continue;
      }
      try {
        const { msg, binary } = decodeControl<WorkerToCoordinator>(m.frames);
        this.pending.push({ rank, msg, binary });
      } catch (e) {
        this.fail({ kind: 'protocol', rank, message: e instanceof Error ? e.message : String(e) });
      }
    }
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
    const deadline = Date.now() + rendezvousTimeoutMs;
    while (joins.length < worldSize) {
      if (this.failure !== null) this.fail(this.failure);
      const left = deadline - Date.now();
      if (left <= 0) this.fail({ kind: 'timeout', missingRanks: Array.from({ length: worldSize - joins.length }, (_, k) => joins.length + k), waitedMs: rendezvousTimeoutMs });
      const m = await this.poll(left);
      if (m === null) continue;
      const msg = this.decodeJoin(m);
      if (msg === null) continue;
      if (msg.type !== 'join') this.fail({ kind: 'protocol', rank: null, message: `sent ${msg.type} before joining` });
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
    const address = (r: number) => (hellos.get(r)!.msg as Extract<WorkerToCoordinator, { type: 'hello' }>).dataAddress;
    this.addresses = all.map(address);
    this.o.log.info({ workers: this.descriptions.map((d) => ({ rank: d.rank, host: d.host, pid: d.pid, backend: d.backend, adapter: d.adapter, microBatch: d.microBatch, dataAddress: address(d.rank) })) }, 'rendezvous done');
  }

  async step(plan: StepPlan): Promise<StepOutcome> {
    this.phase = 'step';
    this.currentStep = plan.step;
    const checksum = plan.step % this.o.checksumEvery === 0;
    for (const s of plan.slices) {
      await this.sendTo(s.rank, { type: 'step', step: plan.step, epoch: plan.epoch, globalCount: plan.globalCount, checksum, microBatch: s.microBatch, attempt: plan.attempt }, [new Uint8Array(s.indices.buffer, s.indices.byteOffset, s.indices.byteLength)]);
    }
    const got = await this.collect('step-done', plan.slices.map((s) => s.rank), this.o.stepTimeoutMs);
    const replies = plan.slices.map((s) => got.get(s.rank)!.msg as Extract<WorkerToCoordinator, { type: 'step-done' }>);
    // Every rank saw the same all-reduced abort flag: they all aborted, or none did.
    const aborted = replies.map((r) => r.aborted);
    if (new Set(aborted).size > 1) this.fail({ kind: 'protocol', rank: aborted.indexOf(!aborted[0]), message: `step ${plan.step}: ranks disagree on whether it was aborted` });
    if (checksum && !aborted[0]) this.checkChecksums(replies.map((r, rank) => ({ rank, checksum: r.checksum })));
    // A rank whose backend crashed took part in the all-reduce (so every rank aborted) and left:
    // replace it before the step is replayed.
    for (const dead of replies.flatMap((r) => (r.oom?.fatal ? [r.oom] : []))) await this.replaceRank(dead.rank, Math.max(1, Math.floor(dead.microBatch / 2)), dead.reason);
    // After the all-reduce every rank holds the global sums; rank 0's are the run's.
    const first = replies[0]!;
    return {
      lossSum: first.lossSum,
      correct: first.correct,
      count: first.count,
      aborted: first.aborted,
      oom: replies.flatMap((r) => (r.oom === null ? [] : [r.oom])),
      timings: replies.map((r) => r.timings),
    };
  }

  private checkChecksums(sums: { rank: number; checksum: string | null }[]): void {
    const ref = sums[0]!.checksum;
    const bad = sums.filter((s) => s.checksum !== ref);
    if (bad.length > 0) {
      throw new DdpError('E_DIVERGED', `the weights of ranks ${bad.map((b) => b.rank).join(',')} differ from rank 0's after step ${this.currentStep} (checksums ${sums.map((s) => s.checksum).join(', ')})`, 'this is a bug or a faulty device: report it with the run directory');
    }
  }

  /**
   * Replaces rank `rank` by a new process: it joins, builds its engine (micro-batch `microBatch`, no
   * search), takes the old one's place in the ring, and continues from a healthy rank's state
   * (weights, BatchNorm statistics, optimizer slots), checked by weight checksum.
   */
  private async replaceRank(rank: number, microBatch: number, reason: string): Promise<void> {
    const { worldSize, rendezvousTimeoutMs } = this.o;
    const old = this.descriptions[rank]!;
    if (this.o.respawn === undefined || worldSize < 2) {
      throw new DdpError('E_MEMORY', `the backend of rank ${rank} (pid ${old.pid} on ${old.host}) crashed at step ${this.currentStep} (${reason})`, 'it cannot be replaced here (workers on other hosts, or a single worker): run with a smaller --micro-batch or --memory-budget');
    }
    this.o.log.warn({ rank, pid: old.pid, step: this.currentStep, reason, microBatch }, 'replacing a rank whose backend crashed');
    this.retired.add(old.pid);
    const oldPeer = this.peers[rank]!;
    await this.sendTo(rank, { type: 'stop', reason: 'replaced: its backend crashed' });
    this.rankOf.delete(oldPeer);
    await this.o.respawn(rank);
    // join → welcome → hello → ring → ready, as at the start, for this rank alone.
    const deadline = Date.now() + rendezvousTimeoutMs;
    for (;;) {
      if (this.failure !== null) this.fail(this.failure);
      if (Date.now() > deadline) this.fail({ kind: 'timeout', missingRanks: [rank], waitedMs: rendezvousTimeoutMs });
      const m = await this.poll(deadline - Date.now());
      if (m === null || m.peer === oldPeer) continue;
      const { msg } = decodeControl<WorkerToCoordinator>(m.frames);
      if (msg.type !== 'join') continue;
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
    const left = (rank + worldSize - 1) % worldSize;
    await this.sendTo(rank, { type: 'ring', rightAddress: this.addresses[(rank + 1) % worldSize]! });
    await this.collect('ready', [rank], rendezvousTimeoutMs);
    await this.sendTo(left, { type: 'ring', rightAddress: hello.dataAddress });
    await this.collect('ready', [left], rendezvousTimeoutMs);
    // The state of a healthy rank (every rank holds the same weights and optimizer state).
    const source = rank === 0 ? 1 : 0;
    const { msg: state, binary } = await this.exportState(source);
    await this.loadState([rank], state.optimizer, binary, state.checksum, `the state of rank ${source}`);
    this.o.log.info({ rank, pid: hello.description.pid, from: source, checksum: state.checksum }, 'rank replaced and re-synced');
  }

  async evaluate(): Promise<EvalOutcome> {
    this.phase = 'eval';
    const shards = evalShards(this.descriptions[0]!.testCount, this.worldSize);
    for (let r = 0; r < this.worldSize; r++) await this.sendTo(r, { type: 'eval', start: shards[r]!.start, end: shards[r]!.end });
    const replies = await this.collect('eval-done', shards.map((_, r) => r), this.o.stepTimeoutMs);
    const out: EvalOutcome = { lossSum: 0, correct: 0, count: 0 };
    for (const { msg } of replies.values()) {
      const e = msg as Extract<WorkerToCoordinator, { type: 'eval-done' }>;
      out.lossSum += e.lossSum;
      out.correct += e.correct;
      out.count += e.count;
    }
    return out;
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
    return writeDirAtomically(req.dir, await this.modelFiles(req.meta));
  }

  /** Rank 0's model files, after every rank averaged its BatchNorm statistics (the 'save' request). */
  private async modelFiles(meta: Record<string, unknown>): Promise<Record<string, Uint8Array>> {
    this.phase = 'save';
    for (let r = 0; r < this.worldSize; r++) await this.sendTo(r, { type: 'save', meta });
    const replies = await this.collect('saved', this.descriptions.map((d) => d.rank), this.o.stepTimeoutMs);
    const zero = replies.get(0)!;
    const names = (zero.msg as Extract<WorkerToCoordinator, { type: 'saved' }>).names;
    if (names.length !== zero.binary.length) this.fail({ kind: 'protocol', rank: 0, message: `saved ${names.length} names with ${zero.binary.length} files` });
    return Object.fromEntries(names.map((n, i) => [n, zero.binary[i]!]));
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
    for (const r of ranks) {
      const got = (loaded.get(r)!.msg as Extract<WorkerToCoordinator, { type: 'state-loaded' }>).checksum;
      if (got !== checksum) throw new DdpError('E_DIVERGED', `rank ${r} has weights ${got} after loading ${from} (checksum ${checksum})`, 'this is a bug, or the state belongs to another model: report it with the run directory');
    }
  }

  async snapshot(meta: Record<string, unknown>): Promise<{ files: Record<string, Uint8Array>; state: TrainingState }> {
    const files = await this.modelFiles(meta);
    const { msg, binary } = await this.exportState(0);
    const floats = (b: Uint8Array) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    if (binary.length !== 2 + msg.optimizer.length) this.fail({ kind: 'protocol', rank: 0, message: `state with ${binary.length} frames for ${msg.optimizer.length} optimizer slots` });
    return {
      files,
      state: { checksum: msg.checksum, weights: floats(binary[0]!), batchNorm: floats(binary[1]!), optimizer: msg.optimizer.map((o, i) => ({ ...o, data: floats(binary[2 + i]!) })) },
    };
  }

  async restore(state: TrainingState): Promise<void> {
    const bytes = (f: Float32Array) => new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
    const optimizer = state.optimizer.map((o) => ({ name: o.name, shape: o.shape }));
    await this.loadState(this.descriptions.map((d) => d.rank), optimizer, [bytes(state.weights), bytes(state.batchNorm), ...state.optimizer.map((o) => bytes(o.data))], state.checksum, 'the checkpoint');
  }

  async close(reason = 'done'): Promise<void> {
    for (let r = 0; r < this.peers.length; r++) await this.sendTo(r, { type: 'stop', reason }).catch(() => undefined);
  }
}
