// A worker process: joins the coordinator over the control plane, builds its engine with the
// settings it is sent, opens its place in the ring, then serves step / eval / save requests until
// told to stop. Every step: gradients of its slice → ring all-reduce (the sync point) → the same
// SGD update as every other rank. Started by `tfjs-ddp worker --join ADDRESS` (locally by the
// coordinator's launcher, or by srun / Kubernetes / hand on other hosts).
import { hostname } from 'node:os';
import { watchLinks } from './link-watch';
import { checkIpcBindAddress, DdpError, digestOfState, isDdpError, readAuditRequest, ringAllReduce, type RingTimes, type TraceSpan, type RingChannel, type Transport, type WorkerSettings, type WorkerToCoordinator } from '@tfjs-ddp/core';
import { MutableRing } from './mutable-ring';
import type { Logger } from 'pino';
import { selectBackend, type BackendChoice } from '../backend/select-backend';
import { createEngine } from '../engine/create-engine';
import { openTask } from '../task/open-task';
import { parseInjectOom, type WorkerEngine } from '../engine/worker-engine';
import { ControlChannel } from './control-channel';
import { auditStep, flipWeightBit } from '../engine/sdc-audit';
import { onTraceClock, stepSpans } from './step-spans';
import { localAddressTowards } from './local-address';

export interface WorkerProcessArgs {
  /** Coordinator control address (tcp://host:port or ipc://path). */
  join: string;
  transport: Transport;
  version: string;
  log: Logger;
  /** RANK / SLURM_PROCID, when the launcher fixed it. */
  requestedRank: number | null;
  /** LOCAL_RANK / SLURM_LOCALID. */
  localRank: number | null;
  /** Overrides of what the coordinator sends (this host's data directory, its own bind address). */
  dataDir?: string | null;
  dataAddress?: string | null;
  env?: Record<string, string | undefined>;
  /** Whether the transport uses CURVE (then the count of rejected connections is reported). */
  secured?: boolean;
  /** How long to wait for the coordinator's next request before giving up. */
  idleTimeoutMs?: number;
}

/** Offset of the collective "step" numbers used to average BatchNorm statistics (never a real step). */
const BN_SYNC_STEP = 0x40000000;

export async function runWorkerProcess(a: WorkerProcessArgs): Promise<void> {
  let ring: MutableRing | null = null;
  const closeRing = () => ring?.closeSockets();
  const control = new ControlChannel(await a.transport.client(a.join), { onSilence: closeRing });
  const send = (m: WorkerToCoordinator, binary: Uint8Array[] = []) => control.send(m, binary);
  let step: number | null = null;
  let engine: WorkerEngine | null = null;
  try {
    await send({ type: 'join', version: a.version, pid: process.pid, host: hostname(), requestedRank: a.requestedRank, localRank: a.localRank });
    // A worker that joins an elastic run mid-way is welcomed at the next step boundary: wait long.
    // Said at once: a worker pointed at a wrong address would otherwise wait in silence.
    a.log.info({ join: a.join, waitS: 600 }, 'asked the coordinator to join; waiting for its welcome (up to 600 s)');
    const welcome = await control.next(600_000);
    if (welcome.msg.type === 'stop') {
      // Turned away: a host kept out after failed joins, or a worker of an earlier run on this address.
      throw new DdpError('E_CLOSED', `the coordinator at ${a.join} turned this worker away: ${welcome.msg.reason}`, 'see the coordinator\'s train.log; try again later, or fix what made this host fail');
    }
    if (welcome.msg.type !== 'welcome') throw new DdpError('E_PROTOCOL', `expected welcome, got ${welcome.msg.type}`);
    const { rank, worldSize, settings } = welcome.msg;
    const log = a.log.child({ rank });
    log.info({ worldSize, settings }, 'joined');
    // libzmq unlinks whatever file is at an ipc:// path before binding it: only the run's own socket directory.
    const toldToBind = settings.dataAddress === null ? null : checkIpcBindAddress(settings.dataAddress, a.join);
    // From here on the coordinator pings: its silence means it is gone.
    control.armWatchdog();

    const backend = await selectBackend(settings.backend as BackendChoice, { env: a.env ?? process.env, log: (level, fields, msg) => log[level](fields, msg) });
    const dataDir = a.dataDir ?? settings.dataDir;
    const task = await openTask(settings, rank, a.env ?? {}, dataDir);
    engine = await createEngine({ task, settings, dataDir, backend, env: a.env ?? process.env, log });
    const inboxAddress = a.dataAddress ?? toldToBind ?? (await defaultDataAddress(a.join));
    ring = new MutableRing(a.transport, rank, worldSize, inboxAddress);
    const dataAddress = await ring.bind();
    const description = await engine.describe(rank);
    const { rank: _r, ...rest } = description;
    await send({ type: 'hello', description: rest, dataAddress });
    log.info({ backend: backend.chosen, device: backend.device, adapter: backend.adapter, microBatch: engine.microBatch, dataAddress }, 'ready to connect the ring');
    // An abort of the step in progress ends a wait in its all-reduce: its sockets close.
    control.onAbort = closeRing;
    // A 'stop' (the coordinator failed or finished) ends a wait in the all-reduce the same way.
    control.onStop = closeRing;
    // TFJS_DDP_INJECT_KILL=RANK:STEP: this process SIGKILLs itself just after its all-reduce of that
    // step started (drills and tests of a rank lost while the others wait on the ring).
    const killAt = parseInjectOom((a.env ?? process.env)['TFJS_DDP_INJECT_KILL'], 'TFJS_DDP_INJECT_KILL');
    // TFJS_DDP_INJECT_KILL_COLLECTIVE=RANK:N: the same in the BatchNorm averaging of the run's N-th
    // evaluation or save (a rank lost while a checkpoint is written).
    const killInCollective = parseInjectOom((a.env ?? process.env)['TFJS_DDP_INJECT_KILL_COLLECTIVE'], 'TFJS_DDP_INJECT_KILL_COLLECTIVE');
    // TFJS_DDP_INJECT_WEIGHT_BITFLIP=RANK:STEP: one weight of that rank changes after that step's update.
    const weightFlipAt = parseInjectOom((a.env ?? process.env)['TFJS_DDP_INJECT_WEIGHT_BITFLIP'], 'TFJS_DDP_INJECT_WEIGHT_BITFLIP');
    /** The last step whose step-done this rank sent. */
    let finished: number | null = null;
    /**
     * The BatchNorm averaging that starts an evaluation or a save. False when the coordinator aborted
     * it (a rank was lost): its 'abort' (tagged minus the collective's number) is answered next, and
     * the evaluation or save comes again.
     */
    /** Watches the ring's links during the all-reduce tagged `tag`; a failed one is reported at once. */
    const watchRingLinks = (tag: number) =>
      watchLinks(ring!.channel(), (l) => {
        log.warn({ step: tag, link: l }, 'a ring link failed: telling the coordinator');
        void send({ type: 'link-lost', step: tag, ...l }).catch(() => undefined);
      });
    const syncCollective = async (collective: number, phase: 'eval' | 'save'): Promise<boolean> => {
      control.phase(-collective, phase);
      const links = ring!.worldSize > 1 && ring!.connected() ? watchRingLinks(-collective) : null;
      try {
        if (control.abortRequested(-collective)) throw new DdpError('E_CLOSED', 'aborted before the all-reduce');
        const synced = syncBatchNorm(engine!, ring!.channel(), settings, collective);
        if (killInCollective.some((k) => k.rank === ring!.rank && k.step === collective)) process.kill(process.pid, 'SIGKILL');
        await synced;
        links?.stop();
        return true;
      } catch (e) {
        control.phase(null, 'idle');
        const lost = links?.stop(true) ?? null;
        if (!control.abortRequested(-collective) && !control.stopRequested && lost === null) throw e;
        log.warn({ collective, phase, error: e instanceof Error ? e.message : String(e), ...(lost !== null ? { link: lost } : {}) }, lost !== null ? 'leaving the BatchNorm averaging: a ring link failed' : 'leaving the BatchNorm averaging: a rank was lost');
        return false;
      }
    };

    const tracing = settings.timeline === true;
    /** When this rank last answered a step or an evaluation (the idle time before the next one goes on the timeline). */
    let answeredAt: number | null = null;
    for (;;) {
      const { msg, binary } = await control.next(a.idleTimeoutMs ?? 30 * 60_000);
      const received = performance.now();
      if (msg.type === 'stop') {
        log.info({ reason: msg.reason }, 'stopping');
        return;
      }
      if (msg.type === 'ring') {
        // At the start, after a neighbour was replaced, or after an abort: where to send from now
        // on; in an elastic run also this rank's new place in a ring that grew or shrank.
        if (msg.rank !== undefined && msg.worldSize !== undefined) ring.place(msg.rank, msg.worldSize);
        await ring.connect(msg.rightAddress);
        log.info({ rightAddress: msg.rightAddress, rank: ring.rank, worldSize: ring.worldSize }, 'ring connected');
        await send({ type: 'ready' });
      } else if (msg.type === 'abort') {
        // A rank was lost. This one either finished the step (it sent step-done) or left it half-way
        // (its BatchNorm statistics are already put back). Either way the ring is rebuilt.
        const done = finished === msg.step;
        control.abortAnswered(msg.step);
        ring.closeSockets();
        const address = await ring.bind();
        log.warn({ step: msg.step, reason: msg.reason, finished: done, dataAddress: address }, 'step aborted by the coordinator: waiting for the ring to be rebuilt');
        await send({ type: 'left', step: msg.step, applied: done, dataAddress: address });
      } else if (msg.type === 'step') {
        step = msg.step;
        const indices = new Uint32Array(binary[0]!.buffer.slice(binary[0]!.byteOffset, binary[0]!.byteOffset + binary[0]!.byteLength));
        // An audit step (--audit-every): the other rank's micro-batch to recompute comes as frame 1.
        const auditOf = readAuditRequest(msg.audit);
        control.phase(msg.step, 'compute');
        const r = await engine.computeGradients(indices, msg.microBatch, { rank: ring.rank, step: msg.step, attempt: msg.attempt, audit: auditOf !== undefined });
        if (r.oom !== null) log.warn({ step: msg.step, attempt: msg.attempt, ...r.oom }, 'out of memory: asking every rank to abort the step');
        // Before the all-reduce: the weights are still this step's. `mine`: this rank's first
        // micro-batch, cut as computeGradients cuts it (for the self-check of a run's first audit).
        const { audit, auditMs, auditAt } = auditOf !== undefined && r.oom === null ? await auditStep(engine, auditOf, binary[1], r.firstDigest, indices.subarray(0, Math.max(1, Math.min(msg.microBatch, indices.length)))) : {};
        if (control.stopRequested) {
          // A 'stop' came during the compute (it closed the ring): it waits in the queue.
          engine.abandonStep();
          continue;
        }
        const t0 = performance.now();
        control.phase(msg.step, 'allreduce');
        let ringTimes: RingTimes | null = null;
        const links = watchRingLinks(msg.step);
        try {
          if (control.abortRequested(msg.step)) throw new DdpError('E_CLOSED', 'aborted before the all-reduce');
          // The sync point: every rank's gradient summed into r.buffer.
          const reduced = ringAllReduce(r.buffer, ring.channel(), { step: msg.step, timeoutMs: settings.allreduceTimeoutMs });
          // At once, not on a later tick: the native ring runs on its own thread and could finish first.
          if (msg.attempt === 0 && killAt.some((k) => k.rank === ring!.rank && k.step === msg.step)) process.kill(process.pid, 'SIGKILL');
          ringTimes = await reduced;
          links.stop();
        } catch (e) {
          control.phase(msg.step, 'idle');
          // A failed link explains the failure: the coordinator, told, aborts the step on every rank.
          const lost = links.stop(true);
          if (!control.abortRequested(msg.step) && !control.stopRequested && lost === null) throw e;
          // The 'abort' message waits in the queue: it is answered by the next turn of this loop.
          log.warn({ step: msg.step, attempt: msg.attempt, error: e instanceof Error ? e.message : String(e), ...(lost !== null ? { link: lost } : {}) }, lost !== null ? 'leaving the step: a ring link failed' : 'leaving the step: a rank was lost');
          engine.abandonStep();
          continue;
        }
        const t1 = performance.now();
        control.phase(msg.step, 'apply');
        const { aborted, skipped, ...m } = engine.applyReduced(r.buffer, msg.lrFactor ?? 1);
        const applyMs = performance.now() - t1;
        if (!aborted && weightFlipAt.some((k) => k.rank === ring!.rank && k.step === msg.step)) log.warn({ step: msg.step, index: await flipWeightBit(engine) }, 'injected: a weight bit flipped (TFJS_DDP_INJECT_WEIGHT_BITFLIP)');
        if (skipped) log.warn({ step: msg.step }, 'the summed gradient is not finite: step skipped on every rank');
        const t2 = performance.now();
        const checksum = msg.checksum && !aborted ? await engine.weightsChecksum() : null;
        finished = msg.step;
        control.phase(msg.step, 'idle');
        const doneAt = performance.now();
        const trace = tracing
          ? stepSpans({ step: msg.step, attempt: msg.attempt, samples: indices.length, microBatch: msg.microBatch, left: (ring.rank + ring.worldSize - 1) % ring.worldSize, bytes: r.buffer.byteLength, idleSince: answeredAt, received, micro: r.spans, ...(auditAt !== undefined && auditOf !== undefined ? { audit: { rank: auditOf.rank, start: auditAt, end: auditAt + auditMs! } } : {}), t0, ring: ringTimes, t1, t2, checksum: checksum !== null, doneAt })
          : undefined;
        answeredAt = doneAt;
        await send({
          type: 'step-done',
          step: msg.step,
          ...m,
          aborted,
          skipped,
          oom: r.oom === null ? null : { rank: ring.rank, ...r.oom },
          timings: { rank: ring.rank, dataMs: r.dataMs, computeMs: r.computeMs, allreduceMs: t1 - t0, applyMs, microBatches: r.microBatches, ...(auditMs !== undefined ? { auditMs } : {}) },
          checksum,
          ...(audit !== undefined ? { audit } : {}),
          ...(trace !== undefined ? { trace } : {}),
        });
        log.debug({ step: msg.step, computeMs: r.computeMs, allreduceMs: t1 - t0 }, 'step done');
        // A crashed backend: the coordinator stops this process and starts a new one for this rank.
        if (engine.dead !== null) log.error({ step: msg.step, reason: engine.dead }, 'backend crashed: waiting to be replaced');
      } else if (msg.type === 'eval') {
        if (!(await syncCollective(msg.collective, 'eval'))) continue;
        const synced = performance.now();
        const out = await engine.evaluate(msg.start, msg.end);
        control.phase(null, 'idle');
        const doneAt = performance.now();
        const trace: TraceSpan[] | undefined = tracing
          ? [
              ...(answeredAt !== null ? [{ name: 'idle', start: answeredAt, end: received }] : []),
              { name: 'evaluate', start: received, end: doneAt, args: { samples: out.count } },
              { name: 'average BatchNorm statistics', start: received, end: synced },
              { name: 'test-set forward', start: synced, end: doneAt },
            ].map(onTraceClock)
          : undefined;
        answeredAt = doneAt;
        await send({ type: 'eval-done', ...out, ...(trace !== undefined ? { trace } : {}) });
      } else if (msg.type === 'export-state') {
        const s = await engine.exportState();
        const bytes = (f: Float32Array) => new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
        await send(
          { type: 'state', optimizer: s.optimizer.map((o) => ({ name: o.name, shape: o.shape })), checksum: await engine.weightsChecksum() },
          [bytes(s.weights), bytes(s.batchNorm), ...s.optimizer.map((o) => bytes(o.data))],
        );
      } else if (msg.type === 'load-state') {
        const floats = (b: Uint8Array) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
        if (binary.length !== 2 + msg.optimizer.length) throw new DdpError('E_PROTOCOL', `load-state with ${binary.length} frames for ${msg.optimizer.length} optimizer slots`);
        await engine.importState({
          weights: floats(binary[0]!),
          batchNorm: floats(binary[1]!),
          optimizer: msg.optimizer.map((o, i) => ({ ...o, data: floats(binary[2 + i]!) })),
        });
        log.info('continuing from the state of another rank');
        // What this rank holds now, read back: the coordinator compares it with what it sent.
        await send({ type: 'state-loaded', checksum: await engine.weightsChecksum(), stateDigest: digestOfState(await engine.exportState()) });
      } else if (msg.type === 'checksum') {
        const rejected = a.transport.rejectedConnections?.();
        await send({ type: 'checksum-done', checksum: await engine.weightsChecksum(), ...(rejected !== undefined && a.secured === true ? { rejectedConnections: rejected } : {}) });
      } else if (msg.type === 'save') {
        if (!(await syncCollective(msg.collective, 'save'))) continue;
        control.phase(null, 'idle');
        // Every rank's weight checksum: the coordinator writes nothing when they differ.
        const checksum = await engine.weightsChecksum();
        if (ring.rank === 0) {
          const files = await engine.exportFiles(msg.meta);
          const names = Object.keys(files);
          await send({ type: 'saved', names, checksum }, names.map((n) => (typeof files[n] === 'string' ? new TextEncoder().encode(files[n] as string) : (files[n] as Uint8Array))));
        } else {
          await send({ type: 'saved', names: [], checksum });
        }
      } else {
        throw new DdpError('E_PROTOCOL', `unexpected ${msg.type} request`);
      }
    }
  } catch (e) {
    // The coordinator's silence is the root cause of whatever it interrupted.
    const cause = control.silence ?? e;
    const err = isDdpError(cause) ? cause : new DdpError('E_INTERNAL', cause instanceof Error ? (cause.stack ?? cause.message) : String(cause));
    a.log.error({ err, step }, 'worker failed');
    // Best effort: tell the coordinator why, so its error names the root cause.
    await send({ type: 'error', code: err.code, message: err.message, step }).catch(() => undefined);
    throw err;
  } finally {
    engine?.dispose();
    ring?.closeSockets();
    await control.close();
  }
}

/**
 * Averages the BatchNorm moving statistics over all ranks (before evaluation and saving), with a
 * ring all-reduce whose step number cannot clash with a training step's.
 */
async function syncBatchNorm(engine: WorkerEngine, ring: RingChannel, settings: WorkerSettings, tag: number): Promise<void> {
  if (ring.worldSize === 1) return;
  const stats = await engine.readBatchNormStats();
  await ringAllReduce(stats, ring, { step: BN_SYNC_STEP + tag, timeoutMs: settings.allreduceTimeoutMs });
  for (let i = 0; i < stats.length; i++) stats[i]! /= ring.worldSize;
  engine.writeBatchNormStats(stats);
}

/** tcp on the interface that reaches the coordinator, ephemeral port. */
async function defaultDataAddress(join: string): Promise<string> {
  const m = /^tcp:\/\/\[?([^\]]+?)\]?:(\d+)$/.exec(join);
  if (m === null) throw new DdpError('E_CONFIG', `cannot derive a data address from ${join}`, 'pass --data-address tcp://HOST:PORT or ipc://PATH');
  const host = await localAddressTowards(m[1]!, Number(m[2]));
  return `tcp://${host.includes(':') ? `[${host}]` : host}:0`;
}
