// describeTransport: the one contract test body every Transport must pass (the zeromq.js habit: one
// body over tcp, ipc and inproc). Run by in-process.spec.ts and zmq/zmq-transport.spec.ts.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isDdpError } from '../errors';
import type { Transport } from './transport';

export interface TransportFixture {
  transport: Transport;
  /** A fresh address to bind (may be an ephemeral one like tcp://127.0.0.1:0). */
  bindAddress(label: string): string;
  cleanup?(): Promise<void> | void;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const text = (s: string): Uint8Array => enc.encode(s);
const str = (b: Uint8Array | undefined): string => dec.decode(b);

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

export function describeTransport(
  name: string,
  makeFixture: () => Promise<TransportFixture> | TransportFixture,
): void {
  describe(`Transport contract: ${name}`, () => {
    let fx: TransportFixture;
    const toClose: { close(): Promise<void> }[] = [];
    const track = <T extends { close(): Promise<void> }>(x: T): T => (toClose.push(x), x);

    beforeEach(async () => {
      fx = await makeFixture();
    });
    afterEach(async () => {
      await Promise.all(toClose.splice(0).map((x) => x.close()));
      await fx.cleanup?.();
    });

    it('reports a resolved inbox address that senders can connect to', async () => {
      const inbox = track(await fx.transport.inbox(fx.bindAddress('resolved')));
      expect(inbox.address).not.toMatch(/:(0|\*)$/);
      const out = track(await fx.transport.outbox(inbox.address));
      await out.send([text('ping')]);
      expect(str((await inbox.recv(2000))[0])).toBe('ping');
    });

    it('delivers messages from one sender whole and in order, with their frames', async () => {
      const inbox = track(await fx.transport.inbox(fx.bindAddress('order')));
      const out = track(await fx.transport.outbox(inbox.address));
      for (let i = 0; i < 50; i++) await out.send([text(`m${i}`), new Uint8Array(i), text('end')]);
      for (let i = 0; i < 50; i++) {
        const frames = await inbox.recv(2000);
        expect(frames.length).toBe(3);
        expect(str(frames[0])).toBe(`m${i}`);
        expect(frames[1]!.byteLength).toBe(i);
        expect(str(frames[2])).toBe('end');
      }
    });

    // 2 MiB: the largest frame the ring sends (MAX_CHUNK_ELEMENTS floats), and ZmqTransport's limit.
    it('carries a 2 MiB frame intact', async () => {
      const inbox = track(await fx.transport.inbox(fx.bindAddress('large')));
      const out = track(await fx.transport.outbox(inbox.address));
      const big = new Uint8Array(2 * 1024 * 1024);
      for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
      await out.send([text('big'), big]);
      const [head, body] = await inbox.recv(5000);
      expect(str(head)).toBe('big');
      expect(
        Buffer.compare(
          Buffer.from(body!.buffer, body!.byteOffset, body!.byteLength),
          Buffer.from(big.buffer),
        ),
      ).toBe(0);
    });

    it('lets a sender overwrite its buffer as soon as send resolves', async () => {
      const inbox = track(await fx.transport.inbox(fx.bindAddress('reuse')));
      const out = track(await fx.transport.outbox(inbox.address));
      const buf = new Uint8Array(1 << 20);
      for (let k = 0; k < 4; k++) {
        buf.fill(k + 1);
        await out.send([buf]);
      }
      buf.fill(0xee);
      for (let k = 0; k < 4; k++) {
        const [got] = await inbox.recv(2000);
        expect(got!.byteLength).toBe(buf.length);
        expect(got!.every((b) => b === k + 1)).toBe(true);
      }
    });

    it('fails a receive with E_TIMEOUT naming the address after about the timeout', async () => {
      const inbox = track(await fx.transport.inbox(fx.bindAddress('timeout')));
      const t0 = performance.now();
      const e = await rejection(inbox.recv(150));
      const elapsed = performance.now() - t0;
      expect(isDdpError(e, 'E_TIMEOUT')).toBe(true);
      expect((e as Error).message).toContain(inbox.address);
      expect((e as Error).message).toContain('150 ms');
      expect(elapsed).toBeGreaterThanOrEqual(140);
      expect(elapsed).toBeLessThan(1000);
    });

    it('still delivers the next message after a receive timed out', async () => {
      const inbox = track(await fx.transport.inbox(fx.bindAddress('after-timeout')));
      const out = track(await fx.transport.outbox(inbox.address));
      await rejection(inbox.recv(20));
      await out.send([text('late')]);
      expect(str((await inbox.recv(2000))[0])).toBe('late');
    });

    it('serves concurrent receives one message each, in call order', async () => {
      const inbox = track(await fx.transport.inbox(fx.bindAddress('concurrent')));
      const out = track(await fx.transport.outbox(inbox.address));
      const pending = [inbox.recv(2000), inbox.recv(2000), inbox.recv(2000)];
      for (const s of ['a', 'b', 'c']) await out.send([text(s)]);
      expect((await Promise.all(pending)).map((f) => str(f[0]))).toEqual(['a', 'b', 'c']);
    });

    it('wakes a waiting receive with E_CLOSED on close, and refuses use after close', async () => {
      const inbox = await fx.transport.inbox(fx.bindAddress('close'));
      const waiting = rejection(inbox.recv(5000));
      await new Promise((r) => setTimeout(r, 20));
      const t0 = performance.now();
      await inbox.close();
      const e = await waiting;
      expect(isDdpError(e, 'E_CLOSED')).toBe(true);
      expect(performance.now() - t0).toBeLessThan(1000);
      expect(isDdpError(await rejection(inbox.recv(10)), 'E_CLOSED')).toBe(true);
      const out = await fx.transport.outbox(inbox.address);
      await out.close();
      expect(isDdpError(await rejection(out.send([text('x')])), 'E_CLOSED')).toBe(true);
    });

    it('routes requests from several clients to the server and each reply back to its sender', async () => {
      const server = track(await fx.transport.server(fx.bindAddress('server')));
      const clients = await Promise.all(
        [0, 1, 2].map(async () => track(await fx.transport.client(server.address))),
      );
      await Promise.all(clients.map((c, i) => c.send([text(`hello ${i}`), new Uint8Array([i])])));
      const peers = new Map<string, number>();
      for (let k = 0; k < 3; k++) {
        const { peer, frames } = await server.recv(2000);
        expect(frames.length).toBe(2);
        const i = frames[1]![0]!;
        expect(str(frames[0])).toBe(`hello ${i}`);
        peers.set(peer, i);
      }
      expect(new Set(peers.values())).toEqual(new Set([0, 1, 2]));
      for (const [peer, i] of peers) await server.send(peer, [text(`reply ${i}`)]);
      const replies = await Promise.all(clients.map((c) => c.recv(2000)));
      expect(replies.map((f) => str(f[0]))).toEqual(['reply 0', 'reply 1', 'reply 2']);
    });

    it('fails a server send to an unknown peer with E_CLOSED naming the peer', async () => {
      const server = track(await fx.transport.server(fx.bindAddress('unknown-peer')));
      const e = await rejection(server.send('nobody', [text('x')]));
      expect(isDdpError(e, 'E_CLOSED')).toBe(true);
      expect((e as Error).message).toContain('nobody');
    });

    it('times out client and server receives with E_TIMEOUT', async () => {
      const server = track(await fx.transport.server(fx.bindAddress('rr-timeout')));
      const client = track(await fx.transport.client(server.address));
      expect(isDdpError(await rejection(server.recv(30)), 'E_TIMEOUT')).toBe(true);
      expect(isDdpError(await rejection(client.recv(30)), 'E_TIMEOUT')).toBe(true);
    });
  });
}
