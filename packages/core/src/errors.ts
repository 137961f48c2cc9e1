// DdpError: the one error type the product throws on purpose. Every instance carries a stable code
// (E_*), says what was observed and what to do next; the CLI maps it to an exit code.

/** Stable error codes. Usage/config errors exit with 2, everything else with 1. */
export type DdpErrorCode =
  | 'E_USAGE'
  | 'E_CONFIG'
  /** A user's model or data module: not found, no default export, the wrong shape, or it threw. */
  | 'E_TASK'
  | 'E_DATA_NOT_FOUND'
  | 'E_DATA_FORMAT'
  | 'E_DATA_TRUNCATED'
  | 'E_DATA_CHECKSUM'
  | 'E_DATA_DOWNLOAD'
  | 'E_BACKEND'
  | 'E_GPU_UNAVAILABLE'
  | 'E_KERNEL'
  | 'E_MEMORY'
  | 'E_CHECKPOINT'
  /**
   * No space left (ENOSPC, EDQUOT) for a file of the run directory, named in the message; exit 1.
   * Hint (fs/disk-full.ts): free space, then `tfjs-ddp train --resume RUN_DIR`.
   */
  | 'E_DISK_FULL'
  | 'E_TIMEOUT'
  | 'E_CLOSED'
  | 'E_PROTOCOL'
  | 'E_WORKER_FAILED'
  | 'E_DIVERGED'
  /**
   * Silent data corruption: a rank's gradient disagreed with another rank's recomputation of it
   * (--audit-every), or the ranks' weights differ before a checkpoint; names the rank(s); exit 1.
   */
  | 'E_SDC'
  /**
   * A ring link between two live workers kept failing (dropped, or could not be made again) in one
   * step, after the ring was rebuilt each time; names the link, its ranks and hosts; exit 1.
   */
  | 'E_NETWORK'
  | 'E_INTERNAL';

const USAGE_CODES: ReadonlySet<DdpErrorCode> = new Set(['E_USAGE', 'E_CONFIG', 'E_TASK']);

export class DdpError extends Error {
  override readonly name = 'DdpError';

  /**
   * @param code stable machine-readable code
   * @param message what happened, where, and what was observed
   * @param hint the next step for the user (appended to the message when printed)
   */
  constructor(
    readonly code: DdpErrorCode,
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(hint ? `${code}: ${message}; ${hint}` : `${code}: ${message}`, options);
  }

  /** Process exit code for this error: 2 for usage/config errors, 1 otherwise. */
  get exitCode(): number {
    return USAGE_CODES.has(this.code) ? 2 : 1;
  }
}

/** True when `e` is a DdpError with the given code (or any code when omitted). */
export function isDdpError(e: unknown, code?: DdpErrorCode): e is DdpError {
  return e instanceof DdpError && (code === undefined || e.code === code);
}
