// ZeroMQ errors → DdpError. zeromq.js reports a receive timeout AND a receive cut short by close()
// as EAGAIN, so the caller says whether the socket was closed; the address goes into every message.
import { DdpError } from '../../errors';
import { closedError, recvTimeoutError } from '../transport-errors';

/** The errno-style code zeromq.js puts on its errors ('EAGAIN', 'EADDRINUSE', …), if any. */
export function zmqCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export interface ZmqErrorContext {
  /** 'inbox', 'server', 'outbox to', 'client of' */
  what: string;
  address: string;
  /** True once close() was called on this endpoint. */
  closed: boolean;
  /** The receive timeout in effect, for receive errors. */
  timeoutMs?: number;
  /** The peer a server was sending to. */
  peer?: string;
}

/** Maps an error thrown by a zeromq.js receive or send to a DdpError. */
export function mapZmqError(e: unknown, ctx: ZmqErrorContext): DdpError {
  if (e instanceof DdpError) return e;
  const code = zmqCode(e);
  if (ctx.closed || code === 'EBADF' || code === 'ETERM' || code === 'ENOTSOCK') {
    return closedError(ctx.what, ctx.address, e);
  }
  if (code === 'EAGAIN' && ctx.timeoutMs !== undefined) {
    return recvTimeoutError(ctx.what, ctx.address, ctx.timeoutMs);
  }
  if (code === 'EHOSTUNREACH') {
    return new DdpError(
      'E_CLOSED',
      `peer '${ctx.peer ?? '?'}' is not connected to ${ctx.what} ${ctx.address}`,
      'the peer has gone or never connected; check its logs',
      { cause: e },
    );
  }
  if (code === 'EAGAIN') {
    return new DdpError(
      'E_TIMEOUT',
      `send queue of ${ctx.what} ${ctx.address} is full${ctx.peer ? ` for peer '${ctx.peer}'` : ''}`,
      'the peer is not reading; check that it is alive',
      { cause: e },
    );
  }
  return new DdpError(
    'E_INTERNAL',
    `ZeroMQ error on ${ctx.what} ${ctx.address}: ${code ?? ''} ${String(e)}`,
    'report this with the log',
    { cause: e },
  );
}

/** Maps a bind or connect failure: a bad or busy address is a configuration error. */
export function mapZmqAddressError(e: unknown, op: 'bind' | 'connect', address: string): DdpError {
  const code = zmqCode(e);
  if (code === 'EADDRINUSE') {
    return new DdpError(
      'E_CONFIG',
      `cannot ${op} ${address}: address in use`,
      'pick another port (or port 0 for any free one) or stop the process holding it',
      { cause: e },
    );
  }
  return new DdpError(
    'E_CONFIG',
    `cannot ${op} ${address}: ${code ?? String(e)}`,
    'use tcp://host:port (port 0 or * for any free one), ipc:///path (at most 107 bytes) or inproc://name',
    { cause: e },
  );
}
