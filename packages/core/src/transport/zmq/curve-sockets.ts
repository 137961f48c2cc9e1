// CURVE on zeromq.js sockets, for zmq-transport.ts: the socket options of a server (bound socket) and
// a client (connecting socket) holding the run key, the count of connections a bound socket accepted
// that never passed the handshake, and the client's reading of a failed handshake.
import type { Dealer, Pull, Router } from 'zeromq';
import { DdpError } from '../../errors';
import type { RunKey } from '../../security/run-key';
import { newZapDomain } from './zap-handler';

/**
 * A bound socket: CURVE server with the run's secret key; the ZAP handler decides who gets in. Each
 * gets a ZAP domain of its own (quiesceZapDomain before it closes).
 */
export function curveServerOptions(key: RunKey): { curveServer: true; curveSecretKey: string; zapDomain: string } {
  return { curveServer: true, curveSecretKey: key.secretKey, zapDomain: newZapDomain() };
}

/** A connecting socket: CURVE client presenting the run key pair, expecting the run key's server. */
export function curveClientOptions(key: RunKey): { curveServerKey: string; curvePublicKey: string; curveSecretKey: string } {
  return { curveServerKey: key.publicKey, curvePublicKey: key.publicKey, curveSecretKey: key.secretKey };
}

/** What a bound socket's connections did: see watchConnections. */
export interface ConnectionCounts {
  /** Accepted but never passed the handshake (CURVE: no key, another key, not ZeroMQ at all). */
  rejected(): number;
  /** Accepted and since closed: peers that left, and peers libzmq dropped (ZMQ_MAXMSGSIZE, a failed handshake). */
  closed(): number;
}

/**
 * Counts a bound socket's connections from its events (one reader per socket: zeromq.js's events
 * are read once). rejected = accepted − handshakes passed: a peer without the key fails in one of
 * several ways (handshake:error:protocol for no CURVE, handshake:error:auth for a wrong key, just a
 * disconnect for bytes that are not ZMTP), so counting the successes is the one way that catches them
 * all. closed counts disconnects: libzmq drops a peer that sends a frame over ZMQ_MAXMSGSIZE with
 * nothing but a disconnect event.
 */
export function watchConnections(socket: Pull | Router): ConnectionCounts {
  let accepted = 0;
  let passed = 0;
  let closed = 0;
  void (async () => {
    try {
      for await (const event of socket.events) {
        if (event.type === 'accept') accepted++;
        else if (event.type === 'handshake') passed++;
        else if (event.type === 'disconnect') closed++;
      }
    } catch {
      // the socket closed
    }
  })();
  return { rejected: () => Math.max(0, accepted - passed), closed: () => closed };
}

/** Connections that must fail the handshake in a row before a client gives up (100 ms apart: ZeroMQ's reconnect interval). */
const FAILED_HANDSHAKES = 3;

/**
 * Calls `refused` once with an E_CONFIG explaining why, when a handshake of `dealer` fails: at once
 * when the server says so (a ZAP refusal: handshake:error:auth; no CURVE on one side:
 * handshake:error:protocol), else after FAILED_HANDSHAKES connections that closed before any
 * handshake passed: that is what another key file looks like from the client (the server cannot
 * read its hello, and drops it without a word).
 */
export function refuseOnHandshakeFailure(dealer: Dealer, address: string, curve: boolean, refused: (e: DdpError) => void): void {
  const hint = 'give the coordinator and every worker the same key file (--key-file FILE or TFJS_DDP_KEY_FILE, made once by `tfjs-ddp keygen`), or --insecure to all of them';
  void (async () => {
    let failed = 0;
    let passed = false;
    let told = false;
    try {
      // Read to the end (the monitor's own stop), never break off: libzmq sends monitor events with a
      // blocking send from its I/O thread, so a monitor left unread, or closed by the garbage collector
      // while the socket still reconnects, stalls every socket of the process (seen in curve.spec:
      // the thread stuck in monitor_event from tcp_connecter_t::start_connecting; libzmq issue 3575).
      for await (const event of dealer.events) {
        if (told) continue;
        if (event.type === 'handshake') passed = true;
        if (event.type === 'connect') failed = passed ? 0 : failed;
        if (event.type === 'disconnect' && !passed) failed++;
        if (event.type === 'handshake:error:auth') {
          refused(new DdpError('E_CONFIG', `${address} refused this process's key (CURVE authentication failed)`, hint));
          told = true;
          continue;
        }
        if (event.type === 'handshake:error:protocol' || failed >= FAILED_HANDSHAKES) {
          const why = curve ? 'it does not accept this process\'s key: it has another key file, or none' : 'it requires a key (CURVE) and this process has none';
          refused(new DdpError('E_CONFIG', `the handshake with ${address} failed ${failed >= FAILED_HANDSHAKES ? `${failed} times` : '(ZMTP protocol error)'}: ${why}`, hint));
          told = true;
          continue;
        }
        if (event.type === 'disconnect') passed = false;
      }
    } catch {
      // the socket closed
    }
  })();
}
