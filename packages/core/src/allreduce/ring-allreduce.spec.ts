import { describe, expect, it } from 'vitest';
import { InProcessTransport } from '../transport/in-process';
import type { Frames, Outbox } from '../transport/transport';
import { describeRingAllReduce, naiveSum } from './describe-ring-allreduce';
import { ringAllReduce } from './ring-allreduce';
import { openLocalRing } from './ring-setup';

describeRingAllReduce('the in-process transport', () => ({
  transport: new InProcessTransport(),
  addresses: (n) => Array.from({ length: n }, () => 'inproc://*'),
  maxRanks: 8,
}));

describe('ringAllReduce', () => {
  it.each([2, 3, 4, 8])('sends 2(N−1)/N of the buffer from each rank, N = %i', async (n) => {
    const rings = await openLocalRing(new InProcessTransport(), Array(n).fill('inproc://*'));
    const sent = new Array<number>(n).fill(0);
    for (const ch of rings) {
      const inner: Outbox = ch.right;
      ch.right = {
        send: (f: Frames) => ((sent[ch.rank]! += f[1]!.byteLength), inner.send(f)),
        close: () => inner.close(),
      };
    }
    const length = 100_003;
    const bufs = rings.map(() => new Float32Array(length).fill(1));
    await Promise.all(rings.map((ch, r) => ringAllReduce(bufs[r]!, ch, { step: 0, timeoutMs: 2000 })));
    const ideal = ((2 * (n - 1)) / n) * length * 4;
    for (const bytes of sent) expect(Math.abs(bytes - ideal)).toBeLessThanOrEqual(2 * (n - 1) * 4);
    expect(bufs[0]![length - 1]).toBe(n);
  });

  it('returns at once and leaves the buffer alone for N = 1', async () => {
    const [ch] = await openLocalRing(new InProcessTransport(), ['inproc://solo']);
    const buf = Float32Array.from([1, 2, 3]);
    await ringAllReduce(buf, ch!, { step: 0, timeoutMs: 0 });
    expect(Array.from(buf)).toEqual([1, 2, 3]);
  });

  it('has a float64 reference that sums element-wise', () => {
    expect(Array.from(naiveSum([Float32Array.from([1, 2]), Float32Array.from([3, 4])]))).toEqual([4, 6]);
  });
});
