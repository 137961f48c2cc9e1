// CURVE on both data planes: the transport contract holds with a run key, and a peer without it —
// no CURVE, a wrong key, or bytes that are not ZeroMQ — gets nothing through and is counted.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Dealer } from 'zeromq';
import { isDdpError } from '../../errors';
import { generateRunKey } from '../../security/run-key';
import { describeTransport } from '../describe-transport';
import { nativeDataPlane } from './native-data-plane';
import { zapDenied } from './zap-handler';
import { ZmqTransport } from './zmq-transport';

// One run key per process (one ZAP handler per context): every secured transport here shares it.
const key = generateRunKey();
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

for (const dataPlane of ['auto', 'zeromq.js'] as const) {
  describeTransport(`zmq with CURVE over tcp://127.0.0.1, data plane ${dataPlane}`, () => ({
    transport: new ZmqTransport({ curve: key, dataPlane }),
    bindAddress: () => 'tcp://127.0.0.1:0',
  }));
}
describeTransport('zmq with CURVE over ipc://', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ddp-curve-'));
  dirs.push(dir);
  return { transport: new ZmqTransport({ curve: key }), bindAddress: (label) => `ipc://${dir}/${label}.sock` };
});

const text = (s: string) => new TextEncoder().encode(s);
const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return cond();
};
/**
 * Bytes that are not ZMTP, straight onto the port. True when the server hangs up within `ms` (it
 * refuses them at the greeting), false when the connection is still open then (it is dropped).
 */
function rawGarbage(address: string, ms = 2000): Promise<boolean> {
  const [, host, port] = /^tcp:\/\/(.+):(\d+)$/.exec(address)!;
  return new Promise((resolve) => {
    const s = connect(Number(port), host!, () => s.write(Buffer.alloc(512, 0xab)));
    const timer = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, ms);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    s.on('error', () => undefined);
    s.resume(); // reads (and drops) its greeting, or the server's hang-up would never be seen
  });
}

describe('CURVE: nobody without the key gets in', { timeout: 30_000 }, () => {
  const planes = nativeDataPlane().binding ? (['auto', 'zeromq.js'] as const) : (['zeromq.js'] as const);

  it('a client with another key file is refused within seconds with an E_CONFIG that says so, and counted', async () => {
    const good = new ZmqTransport({ curve: key });
    const server = await good.server('tcp://127.0.0.1:0');
    const intruder = await new ZmqTransport({ curve: generateRunKey() }).client(server.address);
    try {
      await intruder.send([text('join')]);
      const t0 = performance.now();
      const e = await intruder.recv(30_000).catch((x: unknown) => x);
      expect(isDdpError(e, 'E_CONFIG') && (e as Error).message).toMatch(/handshake with tcp:.* failed 3 times: it does not accept this process's key: it has another key file, or none; give the coordinator and every worker the same key file \(--key-file FILE or TFJS_DDP_KEY_FILE/);
      expect(performance.now() - t0).toBeLessThan(5000);
      expect(await until(() => good.rejectedConnections() >= 1)).toBe(true);
      await expect(server.recv(300)).rejects.toSatisfy((x) => isDdpError(x, 'E_TIMEOUT'));
    } finally {
      await intruder.close();
      await server.close();
    }
  });

  it('a client without CURVE is refused, naming --key-file and --insecure', async () => {
    const good = new ZmqTransport({ curve: key });
    const server = await good.server('tcp://127.0.0.1:0');
    const plain = await new ZmqTransport().client(server.address);
    try {
      await plain.send([text('garbage')]);
      const e = await plain.recv(30_000).catch((x: unknown) => x);
      expect(isDdpError(e, 'E_CONFIG') && (e as Error).message).toMatch(/it requires a key \(CURVE\) and this process has none.*--key-file FILE.*--insecure/);
      expect(await until(() => good.rejectedConnections() >= 1)).toBe(true);
      await expect(server.recv(300)).rejects.toSatisfy((x) => isDdpError(x, 'E_TIMEOUT'));
    } finally {
      await plain.close();
      await server.close();
    }
  });

  for (const dataPlane of planes) {
    it(`an inbox (${dataPlane === 'auto' ? 'native' : 'zeromq.js'}) receives only from holders of the key, and counts the rest`, async () => {
      const t = new ZmqTransport({ curve: key, dataPlane });
      const inbox = await t.inbox('tcp://127.0.0.1:0');
      const senders = [await new ZmqTransport({ dataPlane }).outbox(inbox.address), await new ZmqTransport({ dataPlane: 'zeromq.js', curve: { ...generateRunKey(), publicKey: key.publicKey } }).outbox(inbox.address)];
      const friend = await new ZmqTransport({ curve: key, dataPlane }).outbox(inbox.address);
      try {
        for (const s of senders) await s.send([text('garbage')]);
        expect(await rawGarbage(inbox.address)).toBe(true);
        await friend.send([text('gradient')]);
        const got = await inbox.recv(10_000);
        expect(new TextDecoder().decode(got[0])).toBe('gradient');
        expect(await until(() => t.rejectedConnections() >= 3)).toBe(true);
        await expect(inbox.recv(300)).rejects.toSatisfy((x) => isDdpError(x, 'E_TIMEOUT'));
      } finally {
        for (const s of [...senders, friend]) await s.close();
        await inbox.close();
      }
    });
  }

  it('a client with its own key pair that knows the run public key is turned away by the ZAP handler', async () => {
    const good = new ZmqTransport({ curve: key });
    const server = await good.server('tcp://127.0.0.1:0');
    const other = generateRunKey();
    const denied = zapDenied();
    // The handshake itself works (it encrypts to the right server key); only the allow-list says no.
    const intruder = new Dealer({ linger: 0, curveServerKey: key.publicKey, curvePublicKey: other.publicKey, curveSecretKey: other.secretKey });
    const events: string[] = [];
    void (async () => {
      for await (const ev of intruder.events) events.push(ev.type);
    })().catch(() => undefined);
    intruder.connect(server.address);
    await intruder.send('join');
    try {
      expect(await until(() => events.includes('handshake:error:auth'))).toBe(true);
      expect(zapDenied()).toBeGreaterThan(denied);
      expect(await until(() => good.rejectedConnections() >= 1)).toBe(true);
      await expect(server.recv(300)).rejects.toSatisfy((x) => isDdpError(x, 'E_TIMEOUT'));
    } finally {
      intruder.close();
      await server.close();
    }
  });

  // Without a ZAP domain libzmq would take the garbage as a ZMTP 1.0 peer and keep it, and closing
  // the server while it parses one can abort the process (zap-handler.ts, newOpenZapDomain).
  it('without CURVE: counts nothing, hangs up on a peer that is not ZMTP 3, serves a plain client', async () => {
    const t = new ZmqTransport();
    const server = await t.server('tcp://127.0.0.1:0');
    const plain = await t.client(server.address);
    try {
      expect(await rawGarbage(server.address)).toBe(true);
      expect(t.rejectedConnections()).toBe(0);
      expect(t.secured).toBe(false);
      await plain.send([text('hello')]);
      const got = await server.recv(5000);
      expect(new TextDecoder().decode(got.frames[0])).toBe('hello');
    } finally {
      await plain.close();
      await server.close();
    }
  });
});
