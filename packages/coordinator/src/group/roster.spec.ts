import type { WorkerDescription } from '@tfjs-ddp/core';
import { describe, expect, it } from 'vitest';
import { Roster } from './roster';

const worker = (rank: number): WorkerDescription => ({ rank, pid: 100 + rank, host: 'h' }) as WorkerDescription;

/** Four ranks seated on peers p0..p3 with inboxes a0..a3. */
function four(): Roster {
  const r = new Roster(4);
  for (let k = 0; k < 4; k++) r.seat(k, `p${k}`);
  r.descriptions = [0, 1, 2, 3].map(worker);
  r.addresses = ['a0', 'a1', 'a2', 'a3'];
  return r;
}

describe('Roster', () => {
  it('knows each peer by its rank until it is unseated', () => {
    const r = four();
    expect(r.rankOf('p2')).toBe(2);
    r.unseat('p2');
    expect(r.rankOf('p2')).toBeUndefined();
    // The old peer stays a ping target until the rank's new process takes its seat.
    expect(r.peers[2]).toBe('p2');
    r.seat(2, 'p2-new');
    expect([r.rankOf('p2-new'), r.peers[2]]).toEqual([2, 'p2-new']);
  });

  it('renumbers the survivors of a shrink in their order, with their new inboxes', () => {
    const r = four();
    r.renumber([0, 2, 3], ['b0', 'b2', 'b3']);
    expect(r.size).toBe(3);
    expect(r.peers).toEqual(['p0', 'p2', 'p3']);
    expect(['p0', 'p1', 'p2', 'p3'].map((p) => r.rankOf(p))).toEqual([0, undefined, 1, 2]);
    expect(r.descriptions.map((d) => [d.rank, d.pid])).toEqual([
      [0, 100],
      [1, 102],
      [2, 103],
    ]);
    expect(r.addresses).toEqual(['b0', 'b2', 'b3']);
    expect(r.all()).toEqual([0, 1, 2]);
  });

  it('undoes a join: only the ranks below the cut remain, their peers still known', () => {
    const r = four();
    r.truncate(2);
    expect([r.size, r.peers, r.addresses, r.all()]).toEqual([2, ['p0', 'p1'], ['a0', 'a1'], [0, 1]]);
    expect(['p0', 'p1', 'p2', 'p3'].map((p) => r.rankOf(p))).toEqual([0, 1, undefined, undefined]);
  });

  it('names the rank it does not have', () => {
    expect(() => four().description(4)).toThrow(/no rank 4 in a group of 4/);
  });
});
