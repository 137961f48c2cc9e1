// For the specs of the group's parts: a ControlIo on an in-process control server with clients
// seated as its ranks, the other ends of the wire played by the spec. Not exported by the package.
import {
  decodeControl,
  encodeControl,
  InProcessTransport,
  type Client,
  type CoordinatorToWorker,
  type WorkerDescription,
  type WorkerSettings,
  type WorkerToCoordinator,
} from '@tfjs-ddp/core';
import { ControlIo } from './control-io';
import type { RemoteGroupOptions } from './group-options';

export const VERSION = 'spec';
let n = 0;
/** What the specs close after each test (afterEach(closeSeated)). */
const cleanup: (() => Promise<void>)[] = [];
export async function closeSeated(): Promise<void> {
  for (const c of cleanup.splice(0)) await c();
}

export const join = (pid: number, host = 'spec'): WorkerToCoordinator => ({ type: 'join', version: VERSION, pid, host, requestedRank: null, localRank: null });

/** A ControlIo on an in-process server, with `ranks` clients seated as ranks 0.. (each sent its join, pid 1000 + rank). */
export async function seated(ranks: number, o: Partial<RemoteGroupOptions> = {}) {
  const transport = new InProcessTransport();
  const server = await transport.server(`inproc://control-io-${n++}`);
  const warnings: string[] = [];
  const io = new ControlIo({
    server,
    worldSize: ranks,
    settingsFor: () => ({}) as WorkerSettings,
    version: VERSION,
    log: { info: () => undefined, warn: (_f: unknown, msg: string) => void warnings.push(msg) },
    rendezvousTimeoutMs: 2_000,
    stepTimeoutMs: 1_000,
    checksumEvery: 1,
    ...o,
  });
  const clients: Client[] = [];
  for (let r = 0; r < ranks; r++) {
    const c = await transport.client(server.address);
    await c.send(encodeControl(join(1000 + r)));
    const m = (await io.poll(1_000))!;
    io.roster.seat(r, m.peer);
    clients.push(c);
  }
  io.roster.descriptions = clients.map((_, r) => ({ rank: r, pid: 1000 + r, host: 'spec' }) as WorkerDescription);
  const client = async () => {
    const c = await transport.client(server.address);
    cleanup.push(() => c.close());
    return c;
  };
  cleanup.push(async () => {
    for (const c of clients) await c.close();
    await server.close();
  });
  return { io, clients, client, warnings };
}

export const send = (c: Client, m: WorkerToCoordinator) => c.send(encodeControl(m));
export const told = async (c: Client): Promise<CoordinatorToWorker> => decodeControl<CoordinatorToWorker>(await c.recv(1_000)).msg;

