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

/**
 * How long a server waits, after the handler last admitted a client to it, before its socket closes.
 * libzmq 4.3.5 aborts the process (`zmtp_engine.cpp:422`, "Resource temporarily unavailable") when
 * a ROUTER socket is closed between the handler's OK and the I/O thread acting on it: the handshake
 * completes on a session that is terminating, which has no pipe for the client's routing id. Seen
 * in CI (curve.spec.ts). A closing server's domain is answered "400" from then on, and its close
 * waits until the last OK is this old.
 */
const QUIESCE_MS = 100;

interface Handler {
  key: string;
  raw: Buffer;
  router: Router;
  users: number;
  denied: number;
  /** Domains (one per bound socket) whose socket is closing: every request is refused. */
  closing: Set<string>;
  /** When the last client was admitted, per domain (performance.now()). */
  admitted: Map<string, number>;
}

let current: Handler | null = null;
let domains = 0;

/** Domains of bound sockets without CURVE: the handler, where one runs, admits NULL there. */
const OPEN_PREFIX = `${ZAP_DOMAIN}-open/`;

/** A ZAP domain of its own for a bound socket (so that its closing can be told apart). */
export function newZapDomain(): string {
  return `${ZAP_DOMAIN}/${++domains}`;
}

/**
 * A ZAP domain for a bound socket without CURVE (--insecure). A domain turns libzmq's ZAP checks on,
 * which refuses ZMTP 1.0/2.0 peers at their greeting: without it, a ROUTER takes such a peer (or
 * bytes that merely look like one) and pushes its routing id later, and if the socket closes
 * meanwhile libzmq 4.3.5 aborts the process (`zmtp_engine.cpp:422`). ZMTP 3 peers still get in:
 * with no handler bound libzmq admits NULL without asking, and this handler admits NULL here.
 */
export function newOpenZapDomain(): string {
  return `${OPEN_PREFIX}${++domains}`;
}

/**
 * Call before closing the socket of `domain`: from now on the handler refuses its clients, and this
 * resolves once any client admitted before has had QUIESCE_MS to complete its handshake. Then `done`
 * (after the close) forgets the domain.
 */
export async function quiesceZapDomain(domain: string): Promise<() => void> {
  const h = current;
  if (h === null) return () => undefined;
  h.closing.add(domain);
  const since = performance.now() - (h.admitted.get(domain) ?? -Infinity);
  if (since < QUIESCE_MS) await new Promise((r) => setTimeout(r, QUIESCE_MS - since));
  return () => {
    h.closing.delete(domain);
    h.admitted.delete(domain);
  };
}

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
      current = { key: publicKey, raw: Buffer.from(raw), router, users: 0, denied: 0, closing: new Set(), admitted: new Map() };
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

async function serve(h: Handler): Promise<void> {
  try {
    for await (const [routingId, delimiter, version, requestId, domainFrame, , , mechanism, clientKey] of h.router) {
      const domain = domainFrame?.toString() ?? '';
      const open = domain.startsWith(OPEN_PREFIX) && mechanism?.toString() === 'NULL';
      const ok = open || (mechanism?.toString() === 'CURVE' && clientKey !== undefined && clientKey.length === 32 && clientKey.equals(h.raw));
      const closing = h.closing.has(domain);
      if (!ok) h.denied++;
      else if (!closing) h.admitted.set(domain, performance.now());
      const [status, text] = closing ? ['400', 'the socket is closing'] : ok ? ['200', 'OK'] : ['400', 'not the run key'];
      try {
        await h.router.send([routingId!, delimiter!, version ?? '1.0', requestId ?? '', status, text, '', '']);
      } catch {
        // One reply that could not go (libzmq gave up that handshake meanwhile): the others still
        // need answers, or their handshakes would wait for ever. Only a closed socket ends this.
        if (h.router.closed) break;
      }
    }
  } catch {
    // closed: the last CURVE socket of this process is gone
  }
  // Ended while still the handler of this process (its socket failed, not released): the next
  // acquire binds a new one instead of counting on a handler that no longer answers.
  if (current === h) current = null;
}
