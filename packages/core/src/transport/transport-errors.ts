// The errors every Transport implementation throws, worded once: a receive that timed out, and an
// endpoint used or waited on while it closes. Used by in-process.ts and zmq/.
import { DdpError } from '../errors';

/** E_TIMEOUT for a receive on `address` that got nothing within `timeoutMs`. */
export function recvTimeoutError(what: string, address: string, timeoutMs: number): DdpError {
  return new DdpError(
    'E_TIMEOUT',
    `no message on ${what} ${address} within ${timeoutMs} ms`,
    'check that the peer is alive and sending, or raise the timeout',
  );
}

/** E_CLOSED for an endpoint that was closed before or while it was used. */
export function closedError(what: string, address: string, cause?: unknown): DdpError {
  return new DdpError('E_CLOSED', `${what} ${address} is closed`, 'do not use an endpoint after close()', {
    cause,
  });
}

/**
 * Checks a receive timeout: a finite number ≥ 0 (nothing waits forever).
 * @throws DdpError E_INTERNAL otherwise
 */
export function checkTimeout(timeoutMs: number, what: string): void {
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw new DdpError(
      'E_INTERNAL',
      `${what} timeout is ${timeoutMs} ms, expected a finite number ≥ 0`,
      'this is a bug in the caller',
    );
  }
}

/**
 * A transport's own ring all-reduce (Inbox.ringAllReduce) stopped at ring step `ringStep` (0 … 2N−3),
 * segment, chunk: nothing came from the left neighbour in time ('timeout'), the right one took nothing
 * in time ('send-timeout'), or a message was not the expected chunk ('protocol', with its frames:
 * headers whole, the payload as zeros of its length). ringAllReduce words it as its own failures.
 */
export class RingFailure extends Error {
  constructor(
    readonly kind: 'timeout' | 'send-timeout' | 'protocol',
    readonly ringStep: number,
    readonly segment: number,
    readonly chunk: number,
    readonly frames: Uint8Array[] = [],
  ) {
    super(`ring all-reduce ${kind} at ring step ${ringStep}, segment ${segment}, chunk ${chunk}`);
    this.name = 'RingFailure';
  }
}
