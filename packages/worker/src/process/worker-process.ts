// A worker process: joins the coordinator over the control plane, builds its engine with the
// settings it is sent, opens its place in the ring, then serves step / eval / save requests until
// told to stop. Every step: gradients of its slice → ring all-reduce (the sync point) → the same
// SGD update as every other rank. Started by `tfjs-ddp worker --join ADDRESS` (locally by the
// coordinator's launcher, or by srun / Kubernetes / hand on other hosts).
import { hostname } from 'node:os';
import {
  DdpError,
  decodeControl,
  encodeControl,
  isDdpError,
  ringAllReduce,
  type CoordinatorToWorker,
  type RingChannel,
  type Transport,
  type WorkerSettings,
  type WorkerToCoordinator,
} from '@tfjs-ddp/core';
import { loadFashionMnist } from '@tfjs-ddp/data';
import type { Logger } from 'pino';
import { selectBackend, type BackendChoice } from '../backend/select-backend';
import { createEngine } from '../engine/create-engine';
import type { WorkerEngine } from '../engine/worker-engine';
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
  const client = await a.transport.client(a.join);
  const send = (m: WorkerToCoordinator, binary: Uint8Array[] = []) => client.send(encodeControl(m, binary));
  const recv = async (timeoutMs: number) => decodeControl<CoordinatorToWorker>(await client.recv(timeoutMs));
  let step: number | null = null;
  let engine: WorkerEngine | null = null;
  let ring: RingChannel | null = null;
  let bnSyncs = 0; // every rank runs the same sequence of collectives, so the counters agree
  try {
    await send({ type: 'join', version: a.version, pid: process.pid, host: hostname(), requestedRank: a.requestedRank, localRank: a.localRank });
    const welcome = await recv(120_000);
    if (welcome.msg.type !== 'welcome') throw new DdpError('E_PROTOCOL', `expected welcome, got ${welcome.msg.type}`);
    const { rank, worldSize, settings } = welcome.msg;
    const log = a.log.child({ rank });
    log.info({ worldSize, settings }, 'joined');

    const backend = await selectBackend(settings.backend as BackendChoice, { env: a.env ?? process.env, log: (level, fields, msg) => log[level](fields, msg) });
    const dataDir = a.dataDir ?? settings.dataDir;
    const data = await loadFashionMnist({ ...(dataDir !== null ? { dataDir } : {}), env: a.env ?? {}, verify: settings.verifyData });
    engine = await createEngine({ data, settings, backend, env: a.env ?? process.env, log });
    const left = await a.transport.inbox(a.dataAddress ?? settings.dataAddress ?? (await defaultDataAddress(a.join)));
    const description = await engine.describe(rank);
    const { rank: _r, ...rest } = description;
    await send({ type: 'hello', description: rest, dataAddress: left.address });
    log.info({ backend: backend.chosen, device: backend.device, adapter: backend.adapter, microBatch: engine.microBatch, dataAddress: left.address }, 'ready to connect the ring');

    const ringMsg = await recv(settings.allreduceTimeoutMs);
    if (ringMsg.msg.type !== 'ring') throw new DdpError('E_PROTOCOL', `expected ring, got ${ringMsg.msg.type}`);
    const right = await a.transport.outbox(ringMsg.msg.rightAddress);
    ring = { rank, worldSize, left, right };
    await send({ type: 'ready' });

    for (;;) {
      const { msg, binary } = await recv(a.idleTimeoutMs ?? 30 * 60_000);
      if (msg.type === 'stop') {
        log.info({ reason: msg.reason }, 'stopping');
        return;
      }
      if (msg.type === 'step') {
        step = msg.step;
        const indices = new Uint32Array(binary[0]!.buffer.slice(binary[0]!.byteOffset, binary[0]!.byteOffset + binary[0]!.byteLength));
        const r = await engine.computeGradients(indices, msg.microBatch, { rank, step: msg.step, attempt: msg.attempt });
        if (r.oom !== null) log.warn({ step: msg.step, attempt: msg.attempt, ...r.oom }, 'out of memory: asking every rank to abort the step');
        const t0 = performance.now();
        await ringAllReduce(r.buffer, ring, { step: msg.step, timeoutMs: settings.allreduceTimeoutMs });
        const t1 = performance.now();
        const { aborted, ...m } = engine.applyReduced(r.buffer);
        const applyMs = performance.now() - t1;
        const checksum = msg.checksum && !aborted ? await engine.weightsChecksum() : null;
        await send({
          type: 'step-done',
          step: msg.step,
          ...m,
          aborted,
          oom: r.oom === null ? null : { rank, ...r.oom },
          timings: { rank, dataMs: r.dataMs, computeMs: r.computeMs, allreduceMs: t1 - t0, applyMs, microBatches: r.microBatches },
          checksum,
        });
        log.debug({ step: msg.step, computeMs: r.computeMs, allreduceMs: t1 - t0 }, 'step done');
        // A crashed backend: the coordinator stops this process and starts a new one for this rank.
        if (engine.dead !== null) log.error({ step: msg.step, reason: engine.dead }, 'backend crashed: waiting to be replaced');
      } else if (msg.type === 'eval') {
        await syncBatchNorm(engine, ring, settings, ++bnSyncs);
        await send({ type: 'eval-done', ...(await engine.evaluate(msg.start, msg.end)) });
      } else if (msg.type === 'ring') {
        // The right neighbour was replaced: send to its new inbox from now on.
        await ring.right.close().catch(() => undefined);
        ring = { ...ring, right: await a.transport.outbox(msg.rightAddress) };
        log.info({ rightAddress: msg.rightAddress }, 'ring rewired');
        await send({ type: 'ready' });
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
        await send({ type: 'state-loaded', checksum: await engine.weightsChecksum() });
      } else if (msg.type === 'checksum') {
        const rejected = a.transport.rejectedConnections?.();
        await send({ type: 'checksum-done', checksum: await engine.weightsChecksum(), ...(rejected !== undefined && a.secured === true ? { rejectedConnections: rejected } : {}) });
      } else if (msg.type === 'save') {
        await syncBatchNorm(engine, ring, settings, ++bnSyncs);
        if (rank === 0) {
          const files = await engine.exportFiles(msg.meta);
          const names = Object.keys(files);
          await send({ type: 'saved', names }, names.map((n) => (typeof files[n] === 'string' ? new TextEncoder().encode(files[n] as string) : (files[n] as Uint8Array))));
        } else {
          await send({ type: 'saved', names: [] });
        }
      } else {
        throw new DdpError('E_PROTOCOL', `unexpected ${msg.type} request`);
      }
    }
  } catch (e) {
    const err = isDdpError(e) ? e : new DdpError('E_INTERNAL', e instanceof Error ? (e.stack ?? e.message) : String(e));
    a.log.error({ err, step }, 'worker failed');
    // Best effort: tell the coordinator why, so its error names the root cause.
    await send({ type: 'error', code: err.code, message: err.message, step }).catch(() => undefined);
    throw err;
  } finally {
    engine?.dispose();
    await ring?.right.close().catch(() => undefined);
    await ring?.left.close().catch(() => undefined);
    await client.close().catch(() => undefined);
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
