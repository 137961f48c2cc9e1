// The ZAP handler (ZeroMQ RFC 27) of zeromq.js's context: libzmq asks it about every client that
// completes a CURVE handshake with one of our bound sockets, and without one bound at
// inproc://zeromq.zap.01 it would let ANY client key in. It admits exactly the run's public key.
// One per process (one context), shared by every ZmqTransport that uses CURVE: held while any CURVE
// socket is open and closed a second after the last one (its pending receive keeps the process alive).
// The native data plane has its own context, so its own handler (native/zmq_guard.h).
import { Router } from 'zeromq';
import { DdpError } from '../../errors';
import { z85Decode } from '../../security/z85';

export const ZAP_DOMAIN = 'tfjs-ddp';
const ZAP_ENDPOINT = 'inproc://zeromq.zap.01';
/** How long the handler outlives its last CURVE socket (bounds how much later the process can exit). */
const LINGER_MS = 1000;

let current: { key: string; raw: Buffer; router: Router; users: number; denied: number } | null = null;

/** Wrong-key clients the handler has turned away in this process (any transport). */
export function zapDenied(): number {
  return current?.denied ?? 0;
}

/**
 * Makes sure the handler runs and admits `publicKey` (Z85); resolves to a release function to call
 * when the socket that needed it closes.
 * @throws DdpError E_CONFIG when a handler for another key runs in this process (one run key per process)
 */
export async function acquireZapHandler(publicKey: string): Promise<() => void> {
  if (current !== null && current.key !== publicKey) {
    throw new DdpError('E_CONFIG', 'this process already serves another run key', 'use one key file per process');
  }
  if (current === null) {
    const raw = z85Decode(publicKey);
    if (raw === null || raw.length !== 32) throw new DdpError('E_CONFIG', 'the run public key is not 40 characters of Z85', 'check the key file');
    const router = await bindRouter();
    // Another acquire may have bound one while this one waited.
    if (current === null) {
      current = { key: publicKey, raw: Buffer.from(raw), router, users: 0, denied: 0 };
      void serve(current);
    } else {
      router.close();
      return acquireZapHandler(publicKey);
    }
  }
  const h = current;
  h.users++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--h.users > 0) return;
    // Closed a little later, not at once: a socket bound right after (the next run phase, the next
    // test) keeps it, and libzmq never sees its handler vanish while handshakes are in flight.
    const timer = setTimeout(() => {
      if (h.users === 0 && current === h) {
        current = null;
        h.router.close();
      }
    }, LINGER_MS);
    timer.unref();
  };
}

/**
 * Binds the handler's endpoint. A handler closed a moment ago may still hold it (libzmq closes
 * asynchronously), so EADDRINUSE is retried for a while; no CURVE socket binds before this resolves.
 */
async function bindRouter(): Promise<Router> {
  for (let attempt = 0; ; attempt++) {
    const router = new Router({ linger: 0 });
    try {
      await router.bind(ZAP_ENDPOINT);
      return router;
    } catch (e) {
      router.close();
      if ((e as { code?: string }).code !== 'EADDRINUSE' || attempt >= 200) {
        throw new DdpError('E_INTERNAL', `cannot bind the ZAP handler at ${ZAP_ENDPOINT}: ${String(e)}`, 'another ZAP handler runs in this process; report this', { cause: e });
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

async function serve(h: NonNullable<typeof current>): Promise<void> {
  try {
    for await (const [routingId, delimiter, version, requestId, , , , mechanism, clientKey] of h.router) {
      const ok = mechanism?.toString() === 'CURVE' && clientKey !== undefined && clientKey.length === 32 && clientKey.equals(h.raw);
      if (!ok) h.denied++;
      await h.router.send([routingId!, delimiter!, version ?? '1.0', requestId ?? '', ok ? '200' : '400', ok ? 'OK' : 'not the run key', '', '']);
    }
  } catch {
    // closed: the last CURVE socket of this process is gone
  }
}
