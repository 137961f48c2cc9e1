// ZmqTransport: the Transport contract over zeromq.js 6 (tcp://, ipc://, inproc://). Inbox = PULL
// (bind), Outbox = PUSH (connect), Server = ROUTER (bind), Client = DEALER (connect). Every socket
// gets a finite linger (zeromq.js defaults to −1: a message queued for a dead peer would block process
// exit) and per-call receive timeouts via serial-socket.ts. With a run key (options.curve) every
// socket uses CURVE: bound ones as servers checked by the ZAP handler, connecting ones as clients
// with the same key pair (curve-sockets.ts). Exported as @tfjs-ddp/core/zmq.
import { randomBytes } from 'node:crypto';
import { Dealer, Pull, Push, Router } from 'zeromq';
import { DdpError } from '../../errors';
import type { RunKey } from '../../security/run-key';
import type { Client, Frames, Inbox, Outbox, Server, Transport } from '../transport';
import {
  nativeDataPlane,
  nativeInbox,
  nativeOutbox,
  nativeServes,
  type NativeSocketOptions,
} from './native-data-plane';
import { MAX_CONTROL_FRAME_BYTES } from '../../protocol/control-codec';
import { MAX_CHUNK_ELEMENTS } from '../../allreduce/ring-allreduce';
import { curveClientOptions, curveServerOptions, refuseOnHandshakeFailure, watchConnections, type ConnectionCounts } from './curve-sockets';
import { SerialSocket } from './serial-socket';
import { tcpLinks } from '../tcp-links';
import { acquireZapHandler, newOpenZapDomain, quiesceZapDomain } from './zap-handler';
import { mapZmqAddressError } from './zmq-errors';

export interface ZmqTransportOptions {
  /**
   * How long a closed socket may keep flushing queued messages (ms). Bounds how long process exit
   * waits for a dead peer. Default 500: a few MB drain over loopback or 10 GbE well within it.
   */
  lingerMs?: number;
  /**
   * Data-plane (PUSH/PULL) high-water mark in messages per peer; a full queue makes send() wait.
   * Default 256: `bench:allreduce --hwm 16|64|256` (N=2, 64 MiB, 3 rounds) gave median 107–118 /
   * 93–99 / 85–93 ms; N=4 and 3 MB did not care. With the ring's 512 KiB chunks that caps a queue at
   * 128 MiB (a ring rank has about one segment in flight); ZeroMQ's default, 1000, would allow GBs.
   */
  dataHighWaterMark?: number;
  /**
   * Kernel socket buffer size (SO_SNDBUF / SO_RCVBUF) of data-plane sockets, bytes; −1 (the default)
   * keeps the operating system's. `bench:allreduce --sockbuf 4194304` against the default (ipc, 64 MiB,
   * N=2 and 4, three alternating rounds) changed neither the time nor the CPU per call beyond noise.
   */
  dataSocketBufferBytes?: number;
  /**
   * Inboxes and outboxes on ipc:// and tcp:// over the native data plane (native-data-plane.ts:
   * libzmq from C++, the ring all-reduce in C++) when it is built ('auto', the default), or always on
   * zeromq.js ('zeromq.js'). The wire frames are the same either way.
   */
  dataPlane?: 'auto' | 'zeromq.js';
  /**
   * The run key: CURVE on every socket, and only peers holding this key pair get in (docs/multi-node.md,
   * "Security"). Without it sockets use ZeroMQ's NULL mechanism (no authentication, no encryption).
   */
  curve?: RunKey;
}

/**
 * ZMQ_MAXMSGSIZE of data-plane sockets: the largest frame the ring sends, a chunk of
 * MAX_CHUNK_ELEMENTS floats (2 MiB; its 25-byte header is a frame of its own). libzmq drops a peer
 * that sends a larger frame, before allocating it (its default is no limit).
 */
export const MAX_DATA_FRAME_BYTES = MAX_CHUNK_ELEMENTS * 4;

/**
 * What a frame grows by on the wire, on top of what the limits above allow: with CURVE libzmq checks
 * ZMQ_MAXMSGSIZE against the encrypted MESSAGE command, 33 bytes longer than the frame sent (a 2 MiB
 * frame was refused with the bare limit: curve.spec.ts).
 */
export const WIRE_MARGIN_BYTES = 256;
const DATA_LIMIT = MAX_DATA_FRAME_BYTES + WIRE_MARGIN_BYTES;

/**
 * TCP options of ring sockets, as the native data plane sets them (native/zmq_links.h): a link whose
 * peer stopped answering is closed by the kernel within about 5 s (keepalive when idle,
 * TCP_USER_TIMEOUT when data is unacknowledged), and a connect that gets no answer is tried again
 * every 2 s.
 */
const RING_TCP = { tcpKeepalive: 1, tcpKeepaliveIdle: 2, tcpKeepaliveInterval: 1, tcpKeepaliveCount: 3, tcpMaxRetransmitTimeout: 5000 } as const;
const CONTROL_LIMIT = MAX_CONTROL_FRAME_BYTES + WIRE_MARGIN_BYTES;

let clientCounter = 0;

/** Binds to an ephemeral port for 'tcp://host:0' (ZeroMQ spells it 'tcp://host:*'). */
function bindSpelling(address: string): string {
  return address.startsWith('tcp://') ? address.replace(/:0$/, ':*') : address;
}

async function bindSocket(socket: Pull | Router, address: string, release?: () => void): Promise<string> {
  try {
    await socket.bind(bindSpelling(address));
  } catch (e) {
    socket.close();
    release?.();
    throw mapZmqAddressError(e, 'bind', address);
  }
  const resolved = socket.lastEndpoint;
  if (!resolved)
    throw new DdpError('E_INTERNAL', `bound ${address} but ZeroMQ reports no endpoint`, 'report this');
  return resolved;
}

function connectSocket(socket: Push | Dealer, address: string): void {
  try {
    socket.connect(address);
  } catch (e) {
    socket.close();
    throw mapZmqAddressError(e, 'connect', address);
  }
}

export class ZmqTransport implements Transport {
  readonly name = 'zmq';
  private readonly linger: number;
  private readonly hwm: number;
  private readonly sockbuf: number;
  private readonly native: ReturnType<typeof nativeDataPlane>['binding'];
  private readonly curve: RunKey | undefined;
  /** One per bound socket (open or closed): connections it accepted that never passed the handshake. */
  private readonly rejectCounts: (() => number)[] = [];

  constructor(options: ZmqTransportOptions = {}) {
    this.curve = options.curve;
    this.linger = options.lingerMs ?? 500;
    this.hwm = options.dataHighWaterMark ?? 256;
    this.sockbuf = options.dataSocketBufferBytes ?? -1;
    this.native = options.dataPlane === 'zeromq.js' ? undefined : nativeDataPlane().binding;
  }

  /** Which data plane ipc:// and tcp:// inboxes and outboxes get: 'native' or 'zeromq.js'. */
  get dataPlane(): 'native' | 'zeromq.js' {
    return this.native ? 'native' : 'zeromq.js';
  }

  /** Whether sockets use CURVE with a run key. */
  get secured(): boolean {
    return this.curve !== undefined;
  }

  /**
   * Connections to this transport's bound sockets (server, inboxes; open or closed) that were
   * accepted but never passed the CURVE handshake: no key, a wrong key, or not ZeroMQ at all.
   * Counted only with a run key; 0 without.
   */
  rejectedConnections(): number {
    return this.rejectCounts.reduce((sum, count) => sum + count(), 0);
  }

  private nativeOptions(): NativeSocketOptions {
    return { hwm: this.hwm, lingerMs: this.linger, sockbuf: this.sockbuf, maxMessageBytes: DATA_LIMIT, ...(this.curve ? { curve: this.curve } : {}) };
  }

  /**
   * A bound socket's connections counted (rejected handshakes, closed connections) and, with CURVE,
   * the ZAP handler held while it is open.
   */
  private async serve(socket: Pull | Router): Promise<{ release: (() => void) | undefined; counts: ConnectionCounts }> {
    const counts = watchConnections(socket);
    if (this.curve === undefined) return { release: undefined, counts };
    const release = await acquireZapHandler(this.curve.publicKey);
    this.rejectCounts.push(counts.rejected);
    return { release, counts };
  }

  /** @throws DdpError E_CONFIG when the address cannot be bound (in use, malformed, path too long) */
  async inbox(address: string): Promise<Inbox> {
    if (this.native && nativeServes(address)) {
      const inbox = nativeInbox(this.native, address, this.nativeOptions());
      if (this.curve) this.rejectCounts.push(inbox.rejected);
      const links = tcpLinks(inbox.address, 'inbox');
      return links === undefined ? inbox : Object.assign(inbox, { links });
    }
    const pull = new Pull({
      linger: this.linger,
      receiveHighWaterMark: this.hwm,
      receiveBufferSize: this.sockbuf,
      maxMessageSize: DATA_LIMIT,
      ...RING_TCP,
      ...(this.curve ? curveServerOptions(this.curve) : {}),
    });
    const { release } = await this.serve(pull);
    const resolved = await bindSocket(pull, address, release);
    const io = new SerialSocket(pull, 'inbox', resolved);
    const links = tcpLinks(resolved, 'inbox');
    return {
      address: resolved,
      ...(links !== undefined ? { links } : {}),
      recv: (timeoutMs) => io.receive(timeoutMs),
      close: async () => {
        io.close();
        release?.();
      },
    };
  }

  /** Connects lazily like ZeroMQ: messages queue until the inbox is there. @throws DdpError E_CONFIG */
  async outbox(address: string): Promise<Outbox> {
    const links = tcpLinks(address, 'outbox');
    if (this.native && nativeServes(address)) {
      const outbox = nativeOutbox(this.native, address, this.nativeOptions());
      return links === undefined ? outbox : Object.assign(outbox, { links });
    }
    const push = new Push({ linger: this.linger, sendHighWaterMark: this.hwm, sendBufferSize: this.sockbuf, maxMessageSize: DATA_LIMIT, ...RING_TCP, connectTimeout: 2000, ...(this.curve ? curveClientOptions(this.curve) : {}) });
    connectSocket(push, address);
    const io = new SerialSocket(push, 'outbox to', address);
    return {
      send: (frames) => io.send(frames),
      // Over inproc:// ZeroMQ hands the sender's memory itself to the receiver, which owns what it
      // receives and may modify it: copy there.
      sendInPlace: (frames) => (address.startsWith('inproc://') ? io.send(frames) : io.sendInPlace(frames)),
      ...(links !== undefined ? { links } : {}),
      close: async (o) => {
        if (o?.discard === true && !io.closed) push.linger = 0;
        io.close();
      },
    };
  }

  /**
   * Peers are named by their routing id (latin1). Sends to an unknown or departed peer fail at once
   * (mandatory + sendTimeout 0: with zeromq.js's default sendTimeout −1 they would wait forever).
   * @throws DdpError E_CONFIG when the address cannot be bound
   */
  async server(address: string): Promise<Server> {
    const curve = this.curve ? curveServerOptions(this.curve) : null;
    // Frames over MAX_CONTROL_FRAME_BYTES (1 MiB) drop the peer: larger parts are split (control-codec.ts).
    const zapDomain = curve?.zapDomain ?? newOpenZapDomain();
    const router = new Router({ linger: this.linger, mandatory: true, sendTimeout: 0, maxMessageSize: CONTROL_LIMIT, zapDomain, ...(curve ?? {}) });
    const { release, counts } = await this.serve(router);
    const resolved = await bindSocket(router, address, release);
    const io = new SerialSocket(router, 'server', resolved);
    return {
      address: resolved,
      recv: async (timeoutMs) => {
        const [id, ...frames] = await io.receive(timeoutMs);
        return { peer: id!.toString('latin1'), frames: frames as Frames };
      },
      send: (peer, frames) => io.send(frames, peer),
      closedConnections: () => counts.closed(),
      close: async () => {
        // A ROUTER closed while a client's handshake completes aborts the process (zap-handler.ts).
        const forget = await quiesceZapDomain(zapDomain);
        io.close();
        forget();
        release?.();
      },
    };
  }

  /**
   * A failed handshake (the server refused this key, or one side uses CURVE and the other not) closes
   * the client, and its waiting and later calls reject with an E_CONFIG that says so, at once: ZeroMQ
   * itself would drop the sends silently and the receive would wait for its whole timeout.
   * @throws DdpError E_CONFIG when the address is malformed
   */
  async client(address: string): Promise<Client> {
    // A readable, unique routing id (ZeroMQ's default is 5 binary bytes): shows up in server logs.
    const routingId = `c${process.pid}-${++clientCounter}-${randomBytes(3).toString('hex')}`;
    const dealer = new Dealer({ linger: this.linger, routingId, maxMessageSize: CONTROL_LIMIT, ...(this.curve ? curveClientOptions(this.curve) : {}) });
    const io = new SerialSocket(dealer, 'client of', address);
    let refused: DdpError | null = null;
    // Watching before connecting: a handshake over loopback can fail before a later observer exists.
    refuseOnHandshakeFailure(dealer, address, this.curve !== undefined, (e) => {
      refused = e;
      io.close();
    });
    connectSocket(dealer, address);
    const orRefused = (e: unknown) => {
      throw refused ?? e;
    };
    return {
      send: (frames) => io.send(frames).catch(orRefused),
      recv: (timeoutMs) => io.receive(timeoutMs).catch(orRefused),
      close: async () => io.close(),
    };
  }
}
