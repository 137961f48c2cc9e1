// The rendezvous: worldSize workers join, get their ranks, build their engines and say hello; the
// coordinator checks that they agree (the same model from the same data, distinct GPUs), wires the
// ring, measures their clocks (--timeline) and gives every rank rank 0's initial training state.
// rewire() is the ring's part of it, again after a replacement, a shrink or a join.
import { DdpError } from '@tfjs-ddp/core';
import { checkGpusDistinct } from '../policy/gpu-assignment';
import { checkWorkersAgree } from '../policy/workers-agree';
import type { ClockSync } from './clock-sync';
import type { ControlIo } from './control-io';
import { now, type Hello, type JoinMsg } from './group-options';
import { syncFrom } from './state-sync';

/** Waits for worldSize workers, assigns ranks, checks they agree and connects the ring. */
export async function rendezvous(io: ControlIo, clocks: ClockSync): Promise<void> {
  const { worldSize, rendezvousTimeoutMs } = io.o;
  const { roster } = io;
  // 1. join: every worker says who it is; ranks follow RANK when given, else (host, local rank, pid).
  const joins = await awaitJoins(io, worldSize, rendezvousTimeoutMs);
  joins.forEach((j, rank) => roster.seat(rank, j.peer));
  const all = joins.map((_, r) => r);
  // 2. welcome → hello: each builds its engine and binds its ring inbox.
  for (const r of all) await io.sendTo(r, { type: 'welcome', rank: r, worldSize, settings: io.o.settingsFor(r) });
  const hellos = await io.collect('hello', all, rendezvousTimeoutMs);
  const hello = (r: number) => hellos.get(r)!.msg as Hello;
  roster.descriptions = all.map((r) => ({ rank: r, ...hello(r).description }));
  try {
    checkWorkersAgree(roster.descriptions);
    checkGpusDistinct(roster.descriptions, io.o.shareGpu ?? false);
  } catch (e) {
    await io.stopAll('done');
    throw e;
  }
  // 3. ring: rank r sends to rank r+1's inbox.
  for (const r of all) await io.sendTo(r, { type: 'ring', rightAddress: hello((r + 1) % worldSize).dataAddress });
  await io.collect('ready', all, rendezvousTimeoutMs);
  await clocks.measure(all);
  // Rank 0's initial weights (and BatchNorm statistics, optimizer slots) to every other rank, as
  // Horovod's broadcast_variables: a model whose initializers are not seeded starts the same on
  // every rank. loadState checks each rank's checksum afterwards.
  const initial = roster.description(0).weightsHash;
  const differed = roster.descriptions.filter((d) => d.weightsHash !== initial).map((d) => d.rank);
  await syncFrom(io, 0, all.slice(1));
  if (differed.length > 0) io.o.log.info({ ranks: differed, weightsHash: initial }, 'initial weights differed from rank 0 (unseeded initializers?): replaced by rank 0\'s');
  for (const d of roster.descriptions) d.weightsHash = initial;
  roster.addresses = all.map((r) => hello(r).dataAddress);
  io.o.log.info({ workers: roster.descriptions.map((d) => ({ rank: d.rank, host: d.host, pid: d.pid, backend: d.backend, adapter: d.adapter, microBatch: d.microBatch, dataAddress: roster.addresses[d.rank] })) }, 'rendezvous done');
}

/** The joins of `worldSize` workers, in rank order; anything else from a peer is turned away. */
async function awaitJoins(io: ControlIo, worldSize: number, timeoutMs: number): Promise<{ peer: string; msg: JoinMsg }[]> {
  const joins: { peer: string; msg: JoinMsg }[] = [];
  try {
    return await collectJoins(io, worldSize, timeoutMs, joins);
  } catch (e) {
    // The workers that joined wait for a welcome: tell them the run will not start.
    const why = e instanceof Error ? e.message : String(e);
    for (const j of joins) io.release(j.peer, `the run did not start: ${why}`);
    throw e;
  }
}

async function collectJoins(io: ControlIo, worldSize: number, timeoutMs: number, joins: { peer: string; msg: JoinMsg }[]): Promise<{ peer: string; msg: JoinMsg }[]> {
  const deadline = now() + timeoutMs;
  while (joins.length < worldSize) {
    if (io.failure !== null) io.fail(io.failure);
    const stop = io.o.stopRequested?.() ?? null;
    if (stop !== null) {
      throw new DdpError('E_CLOSED', `${stop} while waiting for workers: ${joins.length} of ${worldSize} had joined`, 'nothing was trained; start the run again when its workers can join');
    }
    const left = deadline - now();
    if (left <= 0) io.fail({ kind: 'timeout', missingRanks: Array.from({ length: worldSize - joins.length }, (_, k) => joins.length + k), waitedMs: timeoutMs });
    const m = await io.poll(left);
    if (m === null) continue;
    const msg = io.decodeJoin(m);
    if (msg === null) continue;
    if (msg.type !== 'join') {
      io.turnAway(m.peer, msg.type);
      continue;
    }
    if (msg.version !== io.o.version) {
      io.fail({ kind: 'protocol', rank: null, message: `worker pid ${msg.pid} on ${msg.host} runs tfjs-ddp ${msg.version}, the coordinator ${io.o.version}` });
    }
    if (!joins.some((j) => j.peer === m.peer)) joins.push({ peer: m.peer, msg });
  }
  const requested = joins.map((j) => j.msg.requestedRank);
  if (requested.every((r) => r !== null)) {
    const sorted = [...requested].sort((x, y) => x! - y!);
    if (sorted.some((r, i) => r !== i)) {
      throw new DdpError('E_CONFIG', `the workers' RANK values ${requested.join(',')} are not 0..${worldSize - 1} each once`, 'check RANK / SLURM_PROCID and --world-size');
    }
    return joins.sort((x, y) => x.msg.requestedRank! - y.msg.requestedRank!);
  }
  return joins.sort((x, y) => x.msg.host.localeCompare(y.msg.host) || (x.msg.localRank ?? 0) - (y.msg.localRank ?? 0) || x.msg.pid - y.msg.pid);
}

/**
 * Tells each of `ranks` where its right neighbour's inbox is now (and, when the ring changed size,
 * its rank and the world size), and waits until each is connected.
 */
export async function rewire(io: ControlIo, clocks: ClockSync, ranks: number[], resized = false): Promise<void> {
  const n = io.roster.size;
  for (const r of ranks) await io.sendTo(r, { type: 'ring', rightAddress: io.roster.addresses[(r + 1) % n]!, ...(resized ? { rank: r, worldSize: n } : {}) });
  await io.collect('ready', ranks, io.o.rendezvousTimeoutMs);
  await clocks.measure(ranks);
}
