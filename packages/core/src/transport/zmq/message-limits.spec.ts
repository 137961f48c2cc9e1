// ZMQ_MAXMSGSIZE on every ZmqTransport socket: a peer that sends a frame over the limit (2 MiB on the
// data plane, 1 MiB on the control plane) is dropped by libzmq before the frame is allocated, counted
// as a closed connection, and the socket goes on serving everyone else.
import { describe, expect, it } from 'vitest';
import { Dealer, Push } from 'zeromq';
import { isDdpError } from '../../errors';
import { MAX_CONTROL_FRAME_BYTES } from '../../protocol/control-codec';
import { generateRunKey } from '../../security/run-key';
import { MAX_DATA_FRAME_BYTES, WIRE_MARGIN_BYTES, ZmqTransport } from './zmq-transport';

/** Resolves when `socket` reports its connection dropped by the other side. */
function dropped(socket: Push | Dealer): Promise<void> {
  return new Promise((resolve) => socket.events.on('disconnect', () => resolve()));
}

describe('ZmqTransport message size limits', () => {
  for (const dataPlane of ['auto', 'zeromq.js'] as const) {
    it(`drops a data-plane peer that sends a frame over ${MAX_DATA_FRAME_BYTES} bytes (+ the wire margin), and still takes the ring's largest (${dataPlane})`, async () => {
      const t = new ZmqTransport({ dataPlane });
      const inbox = await t.inbox('tcp://127.0.0.1:0');
      const intruder = new Push({ linger: 0, reconnectInterval: 60_000 });
      try {
        const gone = dropped(intruder);
        intruder.connect(inbox.address);
        await intruder.send([Buffer.from('h'), Buffer.alloc(MAX_DATA_FRAME_BYTES + WIRE_MARGIN_BYTES + 1)]);
        await gone;
        await expect(inbox.recv(300)).rejects.toSatisfy((e) => isDdpError(e, 'E_TIMEOUT'));
        const out = await t.outbox(inbox.address);
        await out.send([Buffer.from('h'), Buffer.alloc(MAX_DATA_FRAME_BYTES, 7)]);
        const [, body] = await inbox.recv(5000);
        expect(body!.byteLength).toBe(MAX_DATA_FRAME_BYTES);
        await out.close();
      } finally {
        intruder.close();
        await inbox.close();
      }
    });
  }

  it('carries the largest control frame and the largest data frame under CURVE (the wire margin is enough)', async () => {
    const t = new ZmqTransport({ curve: generateRunKey() });
    const server = await t.server('tcp://127.0.0.1:0');
    const client = await t.client(server.address);
    const inbox = await t.inbox('tcp://127.0.0.1:0');
    const out = await t.outbox(inbox.address);
    try {
      await client.send([Buffer.alloc(MAX_CONTROL_FRAME_BYTES, 1)]);
      expect((await server.recv(5000)).frames[0]!.byteLength).toBe(MAX_CONTROL_FRAME_BYTES);
      await out.send([Buffer.from('h'), Buffer.alloc(MAX_DATA_FRAME_BYTES, 2)]);
      expect((await inbox.recv(5000))[1]!.byteLength).toBe(MAX_DATA_FRAME_BYTES);
    } finally {
      await Promise.all([client.close(), out.close()]);
      await Promise.all([server.close(), inbox.close()]);
    }
  });

  it(`drops a control peer that sends a frame over ${MAX_CONTROL_FRAME_BYTES} bytes (+ the wire margin), counts it, and serves the others`, async () => {
    const t = new ZmqTransport();
    const server = await t.server('tcp://127.0.0.1:0');
    const intruder = new Dealer({ linger: 0, reconnectInterval: 60_000 });
    try {
      const gone = dropped(intruder);
      intruder.connect(server.address);
      await intruder.send([Buffer.alloc(MAX_CONTROL_FRAME_BYTES + WIRE_MARGIN_BYTES + 1, 0x7b)]);
      await gone;
      await expect(server.recv(300)).rejects.toSatisfy((e) => isDdpError(e, 'E_TIMEOUT'));
      await expect.poll(() => server.closedConnections?.(), { timeout: 2000 }).toBe(1);
      const client = await t.client(server.address);
      await client.send([Buffer.alloc(MAX_CONTROL_FRAME_BYTES, 1)]);
      const got = await server.recv(5000);
      expect(got.frames[0]!.byteLength).toBe(MAX_CONTROL_FRAME_BYTES);
      await client.close();
    } finally {
      intruder.close();
      await server.close();
    }
  });
});
