import {
  DdpError,
  decodeControl,
  encodeControl,
  InProcessTransport,
  type Server,
  type WorkerSettings,
} from '@tfjs-ddp/core';
import { afterEach, describe, expect, it } from 'vitest';
import { ScriptedWorker } from './group/scripted-worker';
import { RemoteWorkerGroup, type RemoteGroupOptions } from './remote-group';

const VERSION = 'spec';
const quiet = { info: () => undefined, warn: () => undefined };
let n = 0;
const cleanup: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

/** The group options every spec here starts from. */
function options(server: Server, worldSize: number): RemoteGroupOptions {
  return {
    server,
    worldSize,
    settingsFor: () => ({}) as WorkerSettings,
    version: VERSION,
    log: quiet,
    rendezvousTimeoutMs: 5_000,
    stepTimeoutMs: 2_000,
    checksumEvery: 1,
  };
}

/** A group of `worlds` scripted workers over the in-process transport, rendezvous done. */
async function start(
  world: number,
  o: Partial<RemoteGroupOptions> = {},
  worker: (rank: number) => Partial<Parameters<typeof ScriptedWorker.join>[2]> = () => ({}),
) {
  const transport = new InProcessTransport();
  const server: Server = await transport.server(`inproc://coordinator-${n++}`);
  const workers = await Promise.all(
    Array.from({ length: world }, (_, r) =>
      ScriptedWorker.join(transport, server.address, {
        requestedRank: world - 1 - r,
        version: VERSION,
        ...worker(world - 1 - r),
      }),
    ),
  );
  cleanup.push(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await server.close();
  });
  const group = await RemoteWorkerGroup.rendezvous({ ...options(server, world), ...o });
  cleanup.unshift(() => group.close());
  return { group, workers: workers.reverse(), server, transport };
}

/** A step plan of one sample for each of `n` ranks. */
function oneSampleEach(step: number, n: number, attempt = 0) {
  return {
    epoch: 1,
    step,
    attempt,
    globalCount: n,
    slices: Array.from({ length: n }, (_, rank) => ({
      rank,
      indices: new Uint32Array([rank]),
      microBatch: 1,
    })),
  };
}

/** The launcher's report that rank 1 (pid 1001) was SIGKILLed, 50 ms from now. */
function rank1KilledSoon(group: RemoteWorkerGroup): void {
  setTimeout(
    () =>
      group.reportFailure({
        kind: 'exited',
        rank: 1,
        pid: 1001,
        host: 'spec',
        code: null,
        signal: 'SIGKILL',
        lastLine: null,
      }),
    50,
  );
}

describe('RemoteWorkerGroup over a scripted control plane', () => {
  it("ranks the workers by RANK, gives every rank rank 0's training state and sums a step", async () => {
    const { group, workers } = await start(2, {}, (r) => ({ weights: new Float32Array([r, r, r]) }));
    expect(group.describe().map((d) => [d.rank, d.pid])).toEqual([
      [0, 1000],
      [1, 1001],
    ]);
    // Rank 1 loaded rank 0's state (weights 0,0,0 and its slot), rank 0 exported it.
    expect(workers[0]!.received.map((m) => m.type)).toContain('export-state');
    expect(workers[1]!.received.find((m) => m.type === 'load-state')).toMatchObject({
      type: 'load-state',
      optimizer: [{ name: 'w/m', shape: [3] }],
    });
    const out = await group.step({
      epoch: 1,
      step: 1,
      attempt: 0,
      globalCount: 8,
      slices: [0, 1].map((rank) => ({
        rank,
        indices: new Uint32Array([rank * 4, rank * 4 + 1, rank * 4 + 2, rank * 4 + 3]),
        microBatch: 4,
      })),
    });
    expect(out).toMatchObject({ aborted: false, lossSum: 1, correct: 2, count: 4, restarts: [] });
    expect(out.timings.map((t) => t.rank)).toEqual([0, 1]);
  });

  it('stops with E_DIVERGED when a rank holds other optimizer slots than it was sent, though its weights agree', async () => {
    await expect(start(2, {}, (r) => ({ loseSlots: r === 1 }))).rejects.toThrow(
      /E_DIVERGED: rank 1 holds a training state other than the state of rank 0 after loading it: its weights agree \(checksum 1,2,3\), its optimizer slots or BatchNorm statistics do not/,
    );
  });

  it('drops and counts a message from a peer that never joined, tells it once to stop, and goes on', async () => {
    const { group, server, transport } = await start(2);
    const stranger = await transport.client(server.address);
    cleanup.push(() => stranger.close());
    await stranger.send(encodeControl({ type: 'progress', step: 7, phase: 'compute' }));
    await stranger.send(encodeControl({ type: 'progress', step: 7, phase: 'compute' }));
    const out = await group.step(oneSampleEach(1, 2));
    expect(out.aborted).toBe(false);
    expect(group.security().rejected_frames).toBe(2);
    const told = decodeControl(await stranger.recv(1_000)).msg;
    expect(told).toMatchObject({
      type: 'stop',
      reason: expect.stringMatching(/earlier run on this address/),
    });
    await expect(stranger.recv(300)).rejects.toThrow(/E_TIMEOUT/);
  });

  it('ends the wait for workers when a stop is asked, and tells the worker that joined that the run did not start', async () => {
    const transport = new InProcessTransport();
    const server: Server = await transport.server(`inproc://coordinator-${n++}`);
    const joined = await transport.client(server.address);
    cleanup.push(async () => {
      await joined.close();
      await server.close();
    });
    await joined.send(encodeControl({ type: 'join', version: VERSION, pid: 1, host: 'h', requestedRank: null, localRank: null }));
    let stop: string | null = null;
    setTimeout(() => (stop = 'SIGINT'), 300);
    const rendezvous = RemoteWorkerGroup.rendezvous({ ...options(server, 2), stopRequested: () => stop });
    await expect(rendezvous).rejects.toMatchObject({ code: 'E_CLOSED', message: expect.stringMatching(/^E_CLOSED: SIGINT while waiting for workers: 1 of 2 had joined/) as unknown });
    expect(decodeControl(await joined.recv(1_000)).msg).toMatchObject({ type: 'stop', reason: expect.stringMatching(/^the run did not start: E_CLOSED: SIGINT/) as unknown });
  });

  it('ends a step whose rank exited, with no way to replace it, naming the rank and its exit', async () => {
    const { group } = await start(2, {}, (r) => ({ hangsInStep: r === 1 }));
    const step = group.step(oneSampleEach(1, 2));
    rank1KilledSoon(group);
    const e = await step.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DdpError);
    expect((e as DdpError).message).toMatch(/rank 1/);
    expect((e as DdpError).message).toMatch(/SIGKILL/);
  });

  it('replaces a rank that exited in a step: a new process joins for it, the ring is rewired, a survivor\'s state is loaded, the step replayed', async () => {
    const spawned: ScriptedWorker[] = [];
    let transportRef: InProcessTransport | null = null;
    let address = '';
    const { group, workers, transport, server } = await start(
      2,
      {
        respawn: async (rank) => {
          spawned.push(await ScriptedWorker.join(transportRef!, address, { requestedRank: rank, version: VERSION }));
        },
      },
      (r) => ({ hangsInStep: r === 1, weights: new Float32Array([r + 5, r + 5, r + 5]) }),
    );
    transportRef = transport;
    address = server.address;
    cleanup.push(async () => {
      for (const w of spawned) await w.stop();
    });
    const step = group.step(oneSampleEach(1, 2));
    rank1KilledSoon(group);
    const out = await step;
    expect(out).toMatchObject({ aborted: true, restarts: [{ rank: 1, pid: 1001, newPid: 1001, step: 1, cause: 'was killed by SIGKILL' }] });
    expect(group.worldSize).toBe(2);
    // Rank 0 left the step and bound a new inbox; the new process got rank 0's state.
    expect(workers[0]!.received.map((m) => m.type)).toEqual(expect.arrayContaining(['abort', 'ring', 'export-state']));
    expect(spawned[0]!.received.map((m) => m.type)).toEqual(['welcome', 'ring', 'load-state']);
    expect(spawned[0]!.received.find((m) => m.type === 'ring')).toMatchObject({ rightAddress: 'inproc://ring-0-again' });
    // The replayed step runs on both ranks.
    expect((await group.step(oneSampleEach(1, 2, 1))).aborted).toBe(false);
  });

  it('names the rank that has not finished a step by the step timeout and still answers a probe (alive, waiting)', async () => {
    const { group } = await start(2, { stepTimeoutMs: 500 }, (r) => ({ hangsInStep: r === 1 }));
    const e = await group.step(oneSampleEach(1, 2)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DdpError);
    expect((e as DdpError).code).toBe('E_TIMEOUT');
    expect((e as DdpError).message).toMatch(/\b1\b/);
  });

  it('undoes an elastic join whose worker dies while it is synced, and goes on with the ranks it had', async () => {
    const { group, transport, server } = await start(2, { minWorkers: 1, joinerSilenceMs: 300 }, (r) => ({
      hangsInStep: r === 1,
    }));
    const lost = group.step(oneSampleEach(1, 2));
    rank1KilledSoon(group);
    expect(await lost).toMatchObject({ aborted: true, membership: { kind: 'shrink' } });
    expect(group.worldSize).toBe(1);
    const joiner = await ScriptedWorker.join(transport, server.address, {
      requestedRank: 1,
      version: VERSION,
      vanishAt: 'load-state',
    });
    cleanup.push(() => joiner.stop());
    // Its join is read during the next step, and it is taken in at the boundary after it.
    expect((await group.step(oneSampleEach(1, 1, 1))).aborted).toBe(false);
    expect(await group.between()).toEqual({ restarts: [], membership: null });
    expect(group.worldSize).toBe(1);
    expect(joiner.received.map((m) => m.type)).toEqual(
      expect.arrayContaining(['welcome', 'ring', 'load-state', 'stop']),
    );
    expect(joiner.received.find((m) => m.type === 'stop')).toMatchObject({
      reason: expect.stringMatching(/failed to join \(it answered no ping for 0 s while it was synced\)/),
    });
    // The ring of the one rank left was made again, and steps go on.
    expect((await group.step(oneSampleEach(2, 1))).aborted).toBe(false);
  });
});
