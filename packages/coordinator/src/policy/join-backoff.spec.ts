import { describe, expect, it } from 'vitest';
import { JOIN_BACKOFF_MAX_MS, JOIN_BACKOFF_MS, JoinBackoff } from './join-backoff';

describe('the join back-off', () => {
  it('keeps a host out after a failed join, for a time that doubles with each failure up to the cap', () => {
    const b = new JoinBackoff();
    expect(b.keptOut('a', 0)).toBeNull();
    const waits = Array.from({ length: 8 }, (_, k) => b.failed('a', `failure ${k + 1}`, 1000).until - 1000);
    expect(waits).toEqual(
      [1, 2, 4, 8, 16, 20, 20, 20].map((m) => Math.min(m * JOIN_BACKOFF_MS, JOIN_BACKOFF_MAX_MS)),
    );
    expect(b.keptOut('a', 1000 + JOIN_BACKOFF_MAX_MS - 1)).toMatchObject({
      host: 'a',
      failures: 8,
      reason: 'failure 8',
    });
    expect(b.keptOut('a', 1000 + JOIN_BACKOFF_MAX_MS)).toBeNull();
  });

  it('keeps out only the failing host, and forgets it once a worker from it is taken in', () => {
    const b = new JoinBackoff();
    b.failed('a', 'no data', 0);
    expect(b.keptOut('b', 1)).toBeNull();
    expect(b.keptOut('a', JOIN_BACKOFF_MS - 1)).not.toBeNull();
    b.succeeded('a');
    expect(b.keptOut('a', 1)).toBeNull();
    expect(b.failed('a', 'again', 0).failures).toBe(1);
  });
});
