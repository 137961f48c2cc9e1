import { DdpError } from '@tfjs-ddp/core';
import { afterEach, describe, expect, it } from 'vitest';
import { closeSeated, join, seated, send, told } from './seated-io';
import { RanksLost } from './wait-errors';

afterEach(closeSeated);

describe('ControlIo: the group’s one executor on the control plane', () => {
  it('gathers one reply per rank; progress is recorded as where a rank was, not returned', async () => {
    const { io, clients } = await seated(2);
    await send(clients[1]!, { type: 'progress', step: 3, phase: 'allreduce' });
    await send(clients[1]!, { type: 'ready' });
    await send(clients[0]!, { type: 'ready' });
    const got = await io.collect('ready', [0, 1], 1_000);
    expect([...got.keys()].sort()).toEqual([0, 1]);
    expect(io.lastSeen.get(1)).toMatchObject({ step: 3, phase: 'allreduce' });
  });

  it('fails the wait naming the rank that sent another message than the one awaited', async () => {
    const { io, clients } = await seated(2);
    await send(clients[1]!, { type: 'state-loaded', checksum: 'x', stateDigest: 'y' });
    await expect(io.collect('ready', [0, 1], 1_000)).rejects.toThrow(/E_PROTOCOL.*rank 1.*sent state-loaded while ready was expected/);
  });

  it("fails with a worker's own error code and message", async () => {
    const { io, clients } = await seated(2);
    await send(clients[0]!, { type: 'error', code: 'E_DATA', message: 'no such file /data/train', step: null });
    const e = await io.collect('ready', [0, 1], 1_000).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DdpError);
    expect((e as DdpError).message).toMatch(/^E_WORKER_FAILED: rank 0 failed during rendezvous \(E_DATA\): no such file \/data\/train;/);
  });

  it('names the ranks still missing at the deadline (E_TIMEOUT)', async () => {
    const { io, clients } = await seated(3);
    io.phase = 'step';
    io.currentStep = 5;
    await send(clients[1]!, { type: 'ready' });
    await expect(io.collect('ready', [0, 1, 2], 300)).rejects.toThrow(/E_TIMEOUT: ranks 0,2 have not finished step 5 after 0 s/);
  });

  it('turns an exit into RanksLost during a recoverable wait, with its log tail; a retired pid is no failure', async () => {
    const { io } = await seated(2, { logTail: (r) => [`last line of rank ${r}`] });
    io.retired.add(1000);
    io.reportFailure({ kind: 'exited', rank: 0, pid: 1000, host: 'spec', code: 1, signal: null, lastLine: null });
    expect(io.failure).toBeNull();
    io.reportFailure({ kind: 'exited', rank: 1, pid: 1001, host: 'spec', code: null, signal: 'SIGKILL', lastLine: null });
    const e = await io.collect('step-done', [0, 1], 1_000, true).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RanksLost);
    expect((e as RanksLost).lost).toEqual([{ rank: 1, pid: 1001, host: 'spec', cause: 'was killed by SIGKILL', lastLines: ['last line of rank 1'] }]);
    expect(io.failure).toBeNull();
  });

  it('queues a join from outside the run once, and sends away one from a host kept out', async () => {
    const { io, client, warnings } = await seated(1);
    const joiner = await client();
    await send(joiner, join(2000, 'spare'));
    await send(joiner, join(2000, 'spare'));
    io.joinBackoff.failed('flaky', 'E_DATA: no data', Date.now());
    const kept = await client();
    await send(kept, join(3000, 'flaky'));
    for (let k = 0; k < 3; k++) await io.receiveInto(300);
    expect(io.joiners.map((j) => j.msg.pid)).toEqual([2000]);
    expect(await told(kept)).toMatchObject({ type: 'stop', reason: expect.stringMatching(/its host flaky is kept out of this run until .*failed to join 1 time\(s\), the last: E_DATA: no data/) });
    expect(warnings).toContain('a worker asks to join from a host kept out after failed joins: sent away');
    expect(io.pending).toEqual([]);
  });

  it('stopAll tells every rank, and the joiners still waiting, with why (a joiner would wait for a welcome that never comes)', async () => {
    const { io, clients, client } = await seated(1);
    const joiner = await client();
    await send(joiner, join(2000, 'spare'));
    await io.receiveInto(300);
    expect(io.joiners).toHaveLength(1);
    await io.stopAll('done');
    expect(await told(clients[0]!)).toMatchObject({ type: 'stop', reason: 'done' });
    expect(await told(joiner)).toMatchObject({ type: 'stop', reason: 'the run ended before it took this worker in (done)' });
    expect(io.joiners).toEqual([]);
  });

  it('drops and counts what a stranger sends that is not a join, and tells it to stop once', async () => {
    const { io, client } = await seated(1);
    const stranger = await client();
    await send(stranger, { type: 'ready' });
    await send(stranger, { type: 'ready' });
    await stranger.send([new TextEncoder().encode('GET / HTTP/1.1')]);
    for (let k = 0; k < 3; k++) await io.receiveInto(300);
    expect(io.rejectedFrames).toBe(3);
    expect(await told(stranger)).toMatchObject({ type: 'stop', reason: expect.stringMatching(/earlier run on this address/) });
    await expect(stranger.recv(300)).rejects.toThrow(/E_TIMEOUT/);
  });
});
