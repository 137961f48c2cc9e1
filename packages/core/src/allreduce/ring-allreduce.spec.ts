import { describe, expect, it } from 'vitest';
import { InProcessTransport } from '../transport/in-process';
import { Mailbox } from '../transport/mailbox';
import { recvTimeoutError } from '../transport/transport-errors';
import type { Frames, Outbox } from '../transport/transport';
import { describeRingAllReduce, firstDifference, naiveSum, rng } from './describe-ring-allreduce';
import { defaultChunkElements, ringAllReduce } from './ring-allreduce';
import type { RingChannel } from './ring-channel';
import { openLocalRing } from './ring-setup';

/**
 * A ring whose sendInPlace keeps views of the sender's bytes and reads them only when the receiver
 * takes the message, after letting the sender run on: the latest moment ZeroMQ may read them. A sender that changed
 * bytes it had sent in place before the peer received them would corrupt the sum.
 */
function lateReadingRing(n: number): RingChannel[] {
  const boxes = Array.from({ length: n }, () => new Mailbox<Frames>());
  return boxes.map((inbox, rank) => ({
    rank,
    worldSize: n,
    right: {
      send: async (frames) => boxes[(rank + 1) % n]!.put(frames.map((f) => f.slice())),
      sendInPlace: async (frames) => boxes[(rank + 1) % n]!.put(frames),
      close: async () => undefined,
    },
    left: {
      address: `late://${rank}`,
      recv: async (timeoutMs) => {
        const frames = await inbox.take(timeoutMs, () =>
          recvTimeoutError('inbox', `late://${rank}`, timeoutMs),
        );
        await new Promise((resolve) => setImmediate(resolve)); // lets the sender run on first
        return frames.map((f) => f.slice());
      },
      close: async () => undefined,
    },
  }));
}

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

  it.each([2, 3, 4, 5])(
    'never changes bytes it sent in place before the peer has them, even when ranks overwrite their buffer on return, N = %i',
    async (n) => {
      const rand = rng(n);
      for (const [length, chunkElements] of [
        [10_007, 1000],
        [n - 1, 3],
        [300_001, undefined],
      ] as const) {
        const bufs = Array.from({ length: n }, () =>
          Float32Array.from({ length }, () => Math.floor(rand() * 2001) - 1000),
        );
        const want = Float32Array.from(naiveSum(bufs));
        const rings = lateReadingRing(n);
        const results = await Promise.all(
          rings.map(async (ch, r) => {
            await ringAllReduce(bufs[r]!, ch, { step: 0, timeoutMs: 5000, chunkElements });
            const copy = bufs[r]!.slice();
            bufs[r]!.fill(Number.NaN); // before the other ranks have read what this one sent in place
            return copy;
          }),
        );
        for (const got of results) expect(firstDifference(got, want)).toBe(-1);
      }
    },
  );

  it('picks an eighth of a segment per chunk by default, within 131,072 … 524,288 floats', () => {
    expect(defaultChunkElements(758_226, 2)).toBe(131_072);
    expect(defaultChunkElements(758_226, 8)).toBe(131_072);
    expect(defaultChunkElements(4_194_304, 2)).toBe(262_144);
    expect(defaultChunkElements(16_777_216, 2)).toBe(524_288);
    expect(defaultChunkElements(16_777_216, 4)).toBe(524_288);
    expect(defaultChunkElements(0, 1)).toBe(131_072);
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
