// The native data plane (packages/core/native/zmq_ring.cc, built by `npm ci` where g++ and libzmq's
// headers are installed): Inbox/Outbox over the system libzmq's PULL/PUSH sockets, and an inbox that
// runs the whole ring all-reduce in C++ when its outbox is native too. ZmqTransport uses it for ipc://
// and tcp:// inboxes and outboxes when it loads; without it everything runs on zeromq.js, with the
// same frames on the wire. TFJS_DDP_NATIVE=0 turns it off, TFJS_DDP_NATIVE=1 makes a missing build an
// error instead.
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { DdpError } from '../../errors';
import type { RunKey } from '../../security/run-key';
import { PROTOCOL_VERSION } from '../../protocol/version';
import type { Frames, Inbox, Outbox, RingCall } from '../transport';
import { perfFromMonotonic } from '../../trace/trace-span';
import { BUNDLED, shippedFile } from '../../runtime/shipped-file';
import { RingFailure, checkTimeout, closedError, recvTimeoutError } from '../transport-errors';
import { InOrder } from './in-order';
import { mapZmqAddressError } from './zmq-errors';

type Handle = object;

/** What zmq_ring.cc exports. Rejections carry `code` (E_TIMEOUT, E_CLOSED, E_PROTOCOL, E_ZMQ). */
interface Binding {
  libzmqVersion: string;
  open(
    type: 'pull' | 'push',
    address: string,
    hwm: number,
    lingerMs: number,
    sockbuf: number,
    publicKey: string,
    secretKey: string,
    maxMessageBytes: number,
  ): {
    handle: Handle;
    endpoint: string;
  };
  /** Connections a bound CURVE socket accepted that never passed the handshake (native/zmq_guard.h). */
  rejected(handle: Handle): number;
  recv(handle: Handle, timeoutMs: number): Promise<Buffer[]>;
  send(handle: Handle, frames: Uint8Array[]): Promise<void>;
  /** `discard`: linger 0, what is still queued is dropped. */
  close(handle: Handle, discard: boolean): Promise<void>;
  allReduce(
    pull: Handle,
    push: Handle,
    buf: Float32Array,
    rank: number,
    worldSize: number,
    step: number,
    timeoutMs: number,
    chunkElements: number,
    protocolVersion: number,
  ): Promise<[number, number, number, number]>;
}

interface NativeError {
  code?: string;
  message?: string;
  errno?: number;
  ringStep?: number;
  segment?: number;
  chunk?: number;
  sending?: boolean;
  frames?: Buffer[];
  lastBytes?: number;
}

// Built by packages/core/native/build.mjs in the repository; a prebuild per platform in the package.
const ADDON = shippedFile(import.meta.url, {
  source: '../../../native/build/zmq_ring.node',
  bundle: `../prebuilds/${process.platform}-${process.arch}/zmq_ring.node`,
});

let loaded: { binding: Binding | undefined; why: string } | undefined;

/**
 * The addon, or undefined (with why) when it is not built, cannot load, or TFJS_DDP_NATIVE=0.
 * @throws DdpError E_CONFIG when TFJS_DDP_NATIVE=1 and it does not load
 */
export function nativeDataPlane(): { binding: Binding | undefined; why: string } {
  if (loaded) return loaded;
  const want = nativeWish(process.env['TFJS_DDP_NATIVE']);
  if (want === '0') {
    loaded = { binding: undefined, why: 'TFJS_DDP_NATIVE=0' };
    return loaded;
  }
  try {
    const binding = createRequire(import.meta.url)(ADDON) as Binding;
    loaded = { binding, why: `native (libzmq ${binding.libzmqVersion})` };
  } catch (e) {
    const why = `${ADDON} did not load: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
    if (want === '1') {
      throw new DdpError(
        'E_CONFIG',
        `TFJS_DDP_NATIVE=1 but ${why}`,
        BUNDLED
          ? 'the package ships the native data plane for linux-x64 with glibc and needs libzmq5 (apt-get install libzmq5); unset TFJS_DDP_NATIVE to use zeromq.js'
          : 'install g++ and libzmq3-dev, then run `npm run build:native`',
      );
    }
    loaded = { binding: undefined, why };
  }
  return loaded;
}

/**
 * TFJS_DDP_NATIVE: unset or empty (use the native data plane when it loads), '0' (never), '1' (it must).
 * @throws DdpError E_CONFIG for any other value
 */
export function nativeWish(value: string | undefined): '' | '0' | '1' {
  if (value === undefined || value === '' || value === '0' || value === '1') return value ?? '';
  throw new DdpError(
    'E_CONFIG',
    `TFJS_DDP_NATIVE is ${JSON.stringify(value)}, expected 0 or 1`,
    'unset it to use the native data plane when it is built, 0 to turn it off, 1 to require it',
  );
}

/** Whether an address is one the native data plane serves (its libzmq cannot see zeromq.js's inproc). */
export function nativeServes(address: string): boolean {
  return address.startsWith('ipc://') || address.startsWith('tcp://');
}

function zmqError(e: NativeError, what: string, address: string): DdpError {
  return new DdpError(
    'E_INTERNAL',
    `ZeroMQ (native) error on ${what} ${address}: ${e.message ?? String(e)}`,
    'report this with the log',
    {
      cause: e,
    },
  );
}

/** errno number → name ('EADDRINUSE'), as zeromq.js reports it, for mapZmqAddressError. */
function errnoName(n: number | undefined): string | undefined {
  return Object.entries(osConstants.errno).find(([, v]) => v === n)?.[0];
}

/** Native sockets not closed yet: closed at process exit (see closeAtExit). */
const openSockets = new Set<NativeSocket>();
let exitHook = false;

/**
 * process.exit() runs libuv's thread-pool clean-up, which joins every pool thread: one blocked in a
 * native receive would hold the exit until that receive's timeout (measured: a pending 60 s receive
 * held process.exit() past 20 s). Closing the sockets at exit interrupts those waits within 50 ms.
 */
function closeAtExit(s: NativeSocket): void {
  openSockets.add(s);
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const o of openSockets) void o.close().catch(() => undefined);
  });
}

/** One operation at a time per socket, in call order (libzmq sockets are single-threaded). */
class NativeSocket {
  private readonly queue = new InOrder();
  closed = false;

  constructor(
    readonly binding: Binding,
    readonly handle: Handle,
    readonly what: string,
    readonly address: string,
  ) {
    closeAtExit(this);
  }

  run<T>(op: () => Promise<T>): Promise<T> {
    return this.queue.run(async () => {
      if (this.closed) throw closedError(this.what, this.address);
      return op();
    });
  }

  mapError(e: unknown, timeoutMs?: number): DdpError | RingFailure {
    if (e instanceof DdpError || e instanceof RingFailure) return e;
    const ne = e as NativeError;
    if (ne.code === 'E_CLOSED' || this.closed) return closedError(this.what, this.address, e);
    if (ne.code === 'E_TIMEOUT' && timeoutMs !== undefined)
      return recvTimeoutError(this.what, this.address, timeoutMs);
    return zmqError(ne, this.what, this.address);
  }

  close(discard = false): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    openSockets.delete(this);
    // Not behind the queue: close() interrupts a waiting operation (within 50 ms), which then rejects.
    return this.binding.close(this.handle, discard);
  }
}

function open(binding: Binding, type: 'pull' | 'push', address: string, o: NativeSocketOptions) {
  try {
    return binding.open(type, address, o.hwm, o.lingerMs, o.sockbuf, o.curve?.publicKey ?? '', o.curve?.secretKey ?? '', o.maxMessageBytes);
  } catch (e) {
    if ((e as NativeError).code === 'E_CONFIG') throw new DdpError('E_CONFIG', `native data plane, ${address}: ${(e as Error).message}`, 'give the process one valid key file');
    const code = errnoName((e as NativeError).errno) ?? (e as NativeError).message;
    throw mapZmqAddressError(
      Object.assign(new Error((e as Error).message), { code }),
      type === 'pull' ? 'bind' : 'connect',
      address,
    );
  }
}

export interface NativeSocketOptions {
  hwm: number;
  lingerMs: number;
  sockbuf: number;
  /** ZMQ_MAXMSGSIZE: a peer that sends a larger frame is dropped (−1: no limit). */
  maxMessageBytes: number;
  /** CURVE with the run key: a bound PULL as server (the addon's own ZAP handler), a PUSH as client. */
  curve?: RunKey;
}

const outboxes = new WeakMap<Outbox, NativeSocket>();

/**
 * A PULL socket bound to `address`, with `rejected()`: its connections that never passed the CURVE
 * handshake (0 without CURVE). @throws DdpError E_CONFIG when it cannot be bound
 */
export function nativeInbox(binding: Binding, address: string, o: NativeSocketOptions): Inbox & { rejected(): number } {
  const { handle, endpoint } = open(binding, 'pull', address, o);
  const io = new NativeSocket(binding, handle, 'inbox', endpoint);
  return {
    address: endpoint,
    rejected: () => binding.rejected(handle),
    recv: (timeoutMs) => {
      checkTimeout(timeoutMs, 'inbox recv');
      const deadline = performance.now() + timeoutMs;
      return io.run(async () => {
        const left = Math.max(0, Math.ceil(deadline - performance.now()));
        try {
          return (await binding.recv(handle, left)) as Frames;
        } catch (e) {
          throw io.mapError(e, timeoutMs);
        }
      });
    },
    ringAllReduce: (right: Outbox, buf: Float32Array, call: RingCall) => {
      const out = outboxes.get(right);
      if (out === undefined) return undefined;
      return io.run(() =>
        out.run(async () => {
          try {
            const [start, firstChunk, reduceScatterEnd, end] = await binding.allReduce(
              handle,
              out.handle,
              buf,
              call.rank,
              call.worldSize,
              call.step,
              call.timeoutMs,
              call.chunkElements,
              PROTOCOL_VERSION,
            );
            // The addon reads CLOCK_MONOTONIC: the clock of process.hrtime, converted to performance.now().
            return { start: perfFromMonotonic(start), firstChunk: perfFromMonotonic(firstChunk), reduceScatterEnd: perfFromMonotonic(reduceScatterEnd), end: perfFromMonotonic(end) };
          } catch (e) {
            const ne = e as NativeError;
            const where = [ne.ringStep ?? -1, ne.segment ?? -1, ne.chunk ?? -1] as const;
            if (ne.code === 'E_TIMEOUT')
              throw new RingFailure(ne.sending ? 'send-timeout' : 'timeout', ...where);
            if (ne.code === 'E_PROTOCOL') {
              const frames: Uint8Array[] = [...(ne.frames ?? [])];
              if ((ne.lastBytes ?? -1) >= 0) frames.push(new Uint8Array(ne.lastBytes!));
              throw new RingFailure('protocol', ...where, frames);
            }
            throw (ne.code === 'E_CLOSED' && out.closed ? out : io).mapError(e);
          }
        }),
      );
    },
    close: () => io.close(),
  };
}

/** A PUSH socket connected to `address` (lazily, like ZeroMQ). @throws DdpError E_CONFIG */
export function nativeOutbox(binding: Binding, address: string, o: NativeSocketOptions): Outbox {
  const { handle } = open(binding, 'push', address, o);
  const io = new NativeSocket(binding, handle, 'outbox to', address);
  const outbox: Outbox = {
    send: (frames) => {
      // Copied now: the caller may reuse its frames once send() returns, but the addon takes them
      // only when earlier operations on this socket are done.
      const copies = frames.map((f) => Uint8Array.from(f));
      return io.run(async () => {
        try {
          await binding.send(handle, copies);
        } catch (e) {
          throw io.mapError(e);
        }
      });
    },
    close: (c) => io.close(c?.discard === true),
  };
  outboxes.set(outbox, io);
  return outbox;
}
