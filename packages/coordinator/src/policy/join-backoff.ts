// Which hosts may join an elastic run now: a host whose joining worker failed (an error while it
// built its engine, silence, a broken hello) is kept out for a back-off that doubles with each
// failure, as Horovod elastic's blacklist keeps out a failing host, so that one bad host cannot
// churn the membership of a healthy run. Pure: the caller passes the time. Used by group/control-io.ts and group/admission.ts.

/** The first back-off: a joiner from the same host is refused for this long after one failure. */
export const JOIN_BACKOFF_MS = 30_000;
/** The longest back-off, reached after 6 failures in a row (30 s · 2^5 = 16 min is capped to 10). */
export const JOIN_BACKOFF_MAX_MS = 10 * 60_000;

export interface KeptOut {
  host: string;
  failures: number;
  /** Until when (the caller's clock, ms). */
  until: number;
  /** The newest failure's reason. */
  reason: string;
}

export class JoinBackoff {
  private readonly hosts = new Map<string, KeptOut>();

  /** Records a failed join from `host` at `at`; returns how long it is kept out. */
  failed(host: string, reason: string, at: number): KeptOut {
    const failures = (this.hosts.get(host)?.failures ?? 0) + 1;
    const wait = Math.min(JOIN_BACKOFF_MS * 2 ** (failures - 1), JOIN_BACKOFF_MAX_MS);
    const k = { host, failures, until: at + wait, reason };
    this.hosts.set(host, k);
    return k;
  }

  /** A worker from `host` joined and was taken in: its count starts again. */
  succeeded(host: string): void {
    this.hosts.delete(host);
  }

  /** Whether `host` is kept out at `at`, and why. */
  keptOut(host: string, at: number): KeptOut | null {
    const k = this.hosts.get(host);
    return k !== undefined && at < k.until ? k : null;
  }
}
