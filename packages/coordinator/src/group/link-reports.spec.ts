import { describe, expect, it } from 'vitest';
import { LinkReports, linkGivenUp, linkOf, MAX_LINK_CUTS } from './link-reports';

const report = (step: number, side: 'left' | 'right', peer: number) => ({
  type: 'link-lost' as const,
  step,
  side,
  peer,
  cause: 'the ring link: its connection dropped',
});

describe('LinkReports: a reported ring link, judged before the ring is rebuilt', () => {
  it('names the link in the direction data flows', () => {
    expect(linkOf(1, report(3, 'left', 0))).toEqual({ from: 0, to: 1 });
    expect(linkOf(1, report(3, 'right', 2))).toEqual({ from: 1, to: 2 });
  });

  it('probes both ends first, and calls it a cut once both answered after the probe', () => {
    const r = new LinkReports();
    r.add(1, report(3, 'left', 0));
    const answered = new Map<number, number>([
      [0, 0],
      [1, 0],
    ]);
    expect(r.next(3, 100, (k) => answered.get(k)!)).toEqual({ kind: 'probe', ranks: [0, 1] });
    expect(r.next(3, 200, (k) => answered.get(k)!)).toBeNull();
    answered.set(0, 150);
    expect(r.next(3, 300, (k) => answered.get(k)!)).toBeNull(); // rank 1 has not answered yet
    answered.set(1, 250);
    expect(r.next(3, 400, (k) => answered.get(k)!)).toEqual({
      kind: 'cut',
      from: 0,
      to: 1,
      reportedBy: 1,
      cause: 'the ring link: its connection dropped',
    });
  });

  it('probes again when an end stays silent (a dead rank is left to the rules for lost ranks)', () => {
    const r = new LinkReports();
    r.add(0, report(3, 'right', 1));
    expect(r.next(3, 0, () => -1)?.kind).toBe('probe');
    expect(r.next(3, 4_999, () => -1)).toBeNull();
    expect(r.next(3, 5_000, () => -1)).toEqual({ kind: 'probe', ranks: [0, 1] });
  });

  it('drops reports of other work, and all of them when cleared', () => {
    const r = new LinkReports();
    r.add(0, report(2, 'right', 1));
    expect(r.next(3, 0, () => 0)).toBeNull();
    r.add(0, report(3, 'right', 1));
    r.clear();
    expect(r.next(3, 0, () => 0)).toBeNull();
  });

  it('gives up with E_NETWORK naming both ends, their hosts and the inbox', () => {
    const e = linkGivenUp(
      {
        from: 0,
        to: 1,
        ends: [
          { rank: 0, pid: 10, host: 'a' },
          { rank: 1, pid: 11, host: 'b' },
        ],
        cause: 'no connection for 3 s',
        reportedBy: 1,
      },
      'step 7',
      (r) => `tcp://10.0.0.${r + 2}:4000`,
    );
    expect(e.code).toBe('E_NETWORK');
    expect(e.message).toMatch(
      new RegExp(
        `from rank 0 \\(pid 10 on a, inbox tcp://10\\.0\\.0\\.2:4000\\) to rank 1 \\(pid 11 on b, inbox tcp://10\\.0\\.0\\.3:4000\\) failed ${MAX_LINK_CUTS} times in a row in step 7`,
      ),
    );
    expect(e.message).toMatch(/rank 1 said: no connection for 3 s/);
  });
});
