import { decodeControl, encodeControl, InProcessTransport, type CoordinatorToWorker, type Server, type WorkerToCoordinator } from '@tfjs-ddp/core';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlChannel, type ControlChannelOptions } from './control-channel';

let n = 0;
const open: ControlChannel[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

/** A coordinator's server and a worker's channel to it, with the peer id of the worker. */
async function pair(o: ControlChannelOptions = {}): Promise<{ server: Server; control: ControlChannel; peer: string }> {
  const t = new InProcessTransport();
  const address = `inproc://control-${n++}`;
  const server = await t.server(address);
  const control = new ControlChannel(await t.client(address), o);
  open.push(control);
  await control.send({ type: 'ready' });
  const { peer } = await server.recv(1000);
  return { server, control, peer };
}

const send = (s: Server, peer: string, m: CoordinatorToWorker) => s.send(peer, encodeControl(m));
const recv = async (s: Server) => decodeControl<WorkerToCoordinator>((await s.recv(2000)).frames).msg;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Waits until `done()` (true), or gives up after ms (false): the watchdog's timers may run late on a loaded machine. */
async function until(done: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (!done()) {
    if (performance.now() > end) return false;
    await sleep(20);
  }
  return true;
}

describe('ControlChannel', () => {
  it('answers a probe or a ping at once with where the rank is, without the main loop reading', async () => {
    const { server, control, peer } = await pair();
    control.phase(7, 'allreduce');
    expect(await recv(server)).toMatchObject({ type: 'progress', step: 7, phase: 'allreduce' });
    await send(server, peer, { type: 'probe' });
    expect(await recv(server)).toMatchObject({ type: 'progress', step: 7, phase: 'allreduce' });
    // A ping is answered the same way: the coordinator's sign that this rank is alive.
    await send(server, peer, { type: 'ping' });
    expect(await recv(server)).toMatchObject({ type: 'progress', step: 7, phase: 'allreduce' });
  });

  it('calls the abort hook for the step in progress, queues the abort, and forgets it once answered', async () => {
    const { server, control, peer } = await pair();
    const hooked: number[] = [];
    control.onAbort = (step) => hooked.push(step);
    control.phase(3, 'compute');
    await recv(server);
    await send(server, peer, { type: 'abort', step: 3, reason: 'rank 1 lost' });
    await send(server, peer, { type: 'ping' });
    const m = await control.next(1000);
    expect(m.msg).toMatchObject({ type: 'abort', step: 3 });
    expect(hooked).toEqual([3]);
    expect(control.abortRequested(3)).toBe(true);
    control.abortAnswered(3);
    expect(control.abortRequested(3)).toBe(false);
    // Pings are not for the main loop.
    await expect(control.next(200)).rejects.toMatchObject({ code: 'E_TIMEOUT' });
  });

  it('does not call the abort hook for a step that is not in progress', async () => {
    const { server, control, peer } = await pair();
    const hooked: number[] = [];
    control.onAbort = (step) => hooked.push(step);
    control.phase(3, 'idle');
    await send(server, peer, { type: 'abort', step: 3, reason: 'x' });
    await control.next(1000);
    expect(hooked).toEqual([]);
  });

  it("calls the stop hook for a 'stop' that comes in a step or a collective (it may wait on the ring), and queues it", async () => {
    const { server, control, peer } = await pair();
    const hooked: string[] = [];
    control.onStop = () => hooked.push('stop');
    control.phase(-2, 'save');
    await recv(server);
    await send(server, peer, { type: 'stop', reason: 'E_NETWORK: the ring link failed 3 times in a row' });
    const m = await control.next(1000);
    expect(m.msg).toMatchObject({ type: 'stop', reason: expect.stringMatching(/^E_NETWORK/) });
    expect(hooked).toEqual(['stop']);
    expect(control.stopRequested).toBe(true);
  });

  it("does not call the stop hook while idle: the main loop reads the 'stop' next", async () => {
    const { server, control, peer } = await pair();
    const hooked: string[] = [];
    control.onStop = () => hooked.push('stop');
    await send(server, peer, { type: 'stop', reason: 'done' });
    expect((await control.next(1000)).msg.type).toBe('stop');
    expect(hooked).toEqual([]);
  });

  it('reports the coordinator gone after silenceMs without a message, and not while pinged', async () => {
    const silences: number[] = [];
    const { server, control, peer } = await pair({ silenceMs: 600, watchMs: 100, onSilence: (ms) => silences.push(ms) });
    control.armWatchdog();
    for (let i = 0; i < 10; i++) {
      await send(server, peer, { type: 'ping' });
      await sleep(100);
    }
    expect(silences).toEqual([]);
    expect(await until(() => silences.length === 1, 5000)).toBe(true);
    expect(silences[0]).toBeGreaterThan(600);
    expect(control.silence?.message).toMatch(/E_TIMEOUT: the coordinator has not been heard from for \d+ s/);
    await expect(control.next(100)).rejects.toBe(control.silence);
  });

  it('tells a silent coordinator where it is every nudgeMs of silence (a restarted one then says stop)', async () => {
    const { server, control, peer } = await pair({ silenceMs: 10_000, watchMs: 50, nudgeMs: 300 });
    control.phase(4, 'idle');
    control.armWatchdog();
    const t0 = performance.now();
    expect(await recv(server)).toMatchObject({ type: 'progress', step: 4, phase: 'idle' });
    expect(performance.now() - t0).toBeGreaterThan(250);
    expect(await recv(server)).toMatchObject({ type: 'progress', step: 4 });
    // Heard from: no nudge for another nudgeMs.
    await send(server, peer, { type: 'stop', reason: 'this coordinator does not know this worker' });
    expect((await control.next(1000)).msg.type).toBe('stop');
    await expect(server.recv(200)).rejects.toMatchObject({ code: 'E_TIMEOUT' });
  });

  it('does not count time in which its event loop was blocked (a long synchronous step) as silence', async () => {
    const silences: number[] = [];
    const { control } = await pair({ silenceMs: 600, watchMs: 100, onSilence: (ms) => silences.push(ms) });
    control.armWatchdog();
    const end = performance.now() + 1500;
    while (performance.now() < end) {
      // a synchronous computation longer than the allowed silence
    }
    const after = performance.now();
    expect(await until(() => silences.length === 1, 5000)).toBe(true);
    // Counted from the end of the blocked stretch, not from its start.
    expect(performance.now() - after).toBeGreaterThan(600);
  });
});
