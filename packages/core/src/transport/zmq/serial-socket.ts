// One-at-a-time access to a zeromq.js socket. zeromq.js allows a single pending receive (and send)
// per socket ('Socket is busy reading' / EBUSY otherwise), and has no per-call timeout, so receives
// queue here and each sets the socket's receiveTimeout to what is left of its own deadline (no
// Promise.race: a receive abandoned by a timer would later eat the next message). send() copies its
// frames at call time, because zeromq.js sends buffers > 128 bytes zero-copy after send() resolves;
// sendInPlace() does not, for callers that can prove the bytes stay unchanged (the ring all-reduce).
import { checkTimeout } from '../transport-errors';
import { InOrder } from './in-order';
import { mapZmqError, type ZmqErrorContext } from './zmq-errors';

/** The part of a zeromq.js socket this file drives. */
export interface ZmqSocketLike {
  receiveTimeout?: number;
  receive?(): Promise<Buffer[]>;
  send?(frames: Buffer[]): Promise<void>;
  close(): void;
}

const MAX_TIMEOUT_MS = 0x7fffffff; // ZMQ_RCVTIMEO is a C int

export class SerialSocket {
  private readonly reads = new InOrder();
  private readonly sends = new InOrder();
  private isClosed = false;

  constructor(
    private readonly socket: ZmqSocketLike,
    private readonly what: string,
    private readonly address: string,
  ) {}

  get closed(): boolean {
    return this.isClosed;
  }

  /** Next message, waiting at most timeoutMs from this call (queue time included). */
  receive(timeoutMs: number): Promise<Buffer[]> {
    checkTimeout(timeoutMs, `${this.what} recv`);
    const deadline = performance.now() + timeoutMs;
    const run = async (): Promise<Buffer[]> => {
      const ctx = this.ctx(timeoutMs);
      if (this.isClosed) throw mapZmqError(undefined, ctx);
      const left = Math.min(MAX_TIMEOUT_MS, Math.max(0, Math.ceil(deadline - performance.now())));
      try {
        this.socket.receiveTimeout = left;
        return await this.socket.receive!();
      } catch (e) {
        throw mapZmqError(e, this.ctx(timeoutMs));
      }
    };
    return this.reads.run(run);
  }

  /**
   * Copies `frames` now, then queues them behind earlier sends; resolves once ZeroMQ has them.
   * @param peer for a ROUTER: the routing id to put in front (latin1, so any id bytes round-trip)
   */
  send(frames: readonly Uint8Array[], peer?: string): Promise<void> {
    return this.enqueue(
      frames.map((f) => Buffer.copyBytesFrom(f)),
      peer,
    );
  }

  /**
   * Queues views of `frames` (no copy): ZeroMQ reads frames over 128 bytes from the caller's memory,
   * possibly after the returned promise resolves, so the caller must not modify them until the
   * receiver has the message.
   */
  sendInPlace(frames: readonly Uint8Array[]): Promise<void> {
    // Buffer views, because zeromq.js sends Buffers (and ArrayBuffers) as bytes, anything else as text.
    return this.enqueue(frames.map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength)));
  }

  private enqueue(buffers: Buffer[], peer?: string): Promise<void> {
    if (this.isClosed) return Promise.reject(mapZmqError(undefined, this.ctx()));
    if (peer !== undefined) buffers.unshift(Buffer.from(peer, 'latin1'));
    const run = async (): Promise<void> => {
      if (this.isClosed) throw mapZmqError(undefined, this.ctx());
      try {
        await this.socket.send!(buffers);
      } catch (e) {
        throw mapZmqError(e, { ...this.ctx(), peer });
      }
    };
    return this.sends.run(run);
  }

  /** Closes the socket; waiting receives and sends reject with E_CLOSED. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.socket.close();
  }

  private ctx(timeoutMs?: number): ZmqErrorContext {
    return { what: this.what, address: this.address, closed: this.isClosed, timeoutMs };
  }
}
