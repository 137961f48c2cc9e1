// The transport seam: message endpoints the control plane (coordinator ⇄ workers) and the data plane
// (ring neighbours) are built on, independent of ZeroMQ. Implemented in memory (in-process.ts, for
// tests) and over ZeroMQ (zmq/, ipc:// and tcp://). Every receive takes a timeout: nothing waits
// forever. A message is a list of frames (byte arrays), delivered whole and in order per sender.

export type Frames = Uint8Array[];

/** A point-to-point receiving end (ZeroMQ PULL): many senders may connect to its address. */
export interface Inbox {
  /** Where senders connect (resolved: e.g. tcp://127.0.0.1:41234 after binding port 0 / '*'). */
  readonly address: string;
  /**
   * Next message, in arrival order. Its frames belong to the caller, who may modify them.
   * @throws DdpError E_TIMEOUT after timeoutMs, E_CLOSED if the inbox is closed while waiting
   */
  recv(timeoutMs: number): Promise<Frames>;
  /**
   * The whole ring all-reduce of allreduce/ring-allreduce.ts (same algorithm, same frames) run by the
   * transport itself with `right` as the outbox, when it can (the native ZeroMQ data plane); returns
   * undefined when it cannot, and the caller runs the JavaScript one. Resolves to when its phases
   * happened (performance.now() ms); rejects with a RingFailure (transport-errors.ts) for the caller
   * to word, or a DdpError.
   */
  ringAllReduce?(right: Outbox, buf: Float32Array, call: RingCall): Promise<RingTimes> | undefined;
  /** Its connections from left neighbours (ZeroMQ transports; absent in memory, where links cannot drop). */
  links?(): LinkState;
  close(): Promise<void>;
}

/**
 * The connections of a ring socket, as the kernel's TCP table shows them (tcp-links.ts): how many are
 * established, and how many established ones went away since the socket was first looked at (a peer that left, a
 * reset, or one the kernel closed: keepalive or TCP_USER_TIMEOUT, 5 s). Read by the worker's link
 * watch during an all-reduce: a drop then can have lost frames.
 */
export interface LinkState {
  up: number;
  drops: number;
}

/**
 * When the phases of one ring all-reduce happened, in performance.now() ms of this process: it
 * started, its first chunk arrived from the left neighbour (the wait for the slowest rank ends),
 * its reduce-scatter ended, and it ended (the all-gather with it).
 */
export interface RingTimes {
  start: number;
  firstChunk: number;
  reduceScatterEnd: number;
  end: number;
}

/** What a transport's own ring all-reduce is told (Inbox.ringAllReduce); checked by the caller. */
export interface RingCall {
  rank: number;
  worldSize: number;
  step: number;
  timeoutMs: number;
  chunkElements: number;
}

/** A sending end connected to one Inbox (ZeroMQ PUSH). */
export interface Outbox {
  /** Queues a message; resolves once the transport has taken it (not when it is received). */
  send(frames: Frames): Promise<void>;
  /**
   * Like send, but may read the frames' bytes after it resolves (ZeroMQ sends them in place), so the
   * caller must leave them unchanged until the receiver has the message. Optional: a transport that
   * copies anyway leaves it out and callers use send.
   */
  sendInPlace?(frames: Frames): Promise<void>;
  /** Its connection to the right neighbour's inbox (ZeroMQ transports). */
  links?(): LinkState;
  /**
   * Closes it. Messages not yet handed to the receiver are flushed for up to the transport's linger,
   * or, with `discard`, dropped now: a ring outbox abandoned at an abort, whose chunks must never
   * reach whatever binds its address next.
   */
  close(options?: { discard?: boolean }): Promise<void>;
}

/** The coordinator's end of the control plane (ZeroMQ ROUTER): talks to many peers by id. */
export interface Server {
  readonly address: string;
  /** Next message from any peer, with the peer's id. @throws DdpError E_TIMEOUT / E_CLOSED */
  recv(timeoutMs: number): Promise<{ peer: string; frames: Frames }>;
  send(peer: string, frames: Frames): Promise<void>;
  close(): Promise<void>;
  /**
   * Connections this server accepted that have closed since: peers that left, and peers the
   * transport dropped (a frame over its size limit, a failed handshake). Absent where the transport
   * has no connections (in-process).
   */
  closedConnections?(): number;
}

/** A worker's end of the control plane (ZeroMQ DEALER). */
export interface Client {
  send(frames: Frames): Promise<void>;
  /** @throws DdpError E_TIMEOUT / E_CLOSED */
  recv(timeoutMs: number): Promise<Frames>;
  close(): Promise<void>;
}

export interface Transport {
  /** Human name for logs and test titles: 'inproc', 'zmq'. */
  readonly name: string;
  /** Binds an inbox; `address` may use port 0 or '*' for an ephemeral port where the scheme has ports. */
  inbox(address: string): Promise<Inbox>;
  outbox(address: string): Promise<Outbox>;
  server(address: string): Promise<Server>;
  client(address: string): Promise<Client>;
  /**
   * Connections to this transport's bound sockets that never passed the security handshake (a peer
   * without the run key); absent where the transport has no such notion (in-process).
   */
  rejectedConnections?(): number;
}
