// describeRingAllReduce: the all-reduce correctness body, run over every transport (in-process in
// ring-allreduce.spec.ts, ZeroMQ ipc/tcp in transport/zmq/zmq-ring-allreduce.spec.ts). All ranks run
// concurrently as promises in one process; results are compared with a float64 (or exact) naive sum.
import { describe, expect, it } from 'vitest';
import { isDdpError } from '../errors';
import type { Transport } from '../transport/transport';
import { ringAllReduce, type RingAllReduceOptions } from './ring-allreduce';
import type { RingChannel } from './ring-channel';
import { closeRing, openLocalRing } from './ring-setup';
import { mulberry32 } from '../prng';

export interface RingFixture {
  transport: Transport;
  /** n fresh inbox addresses to bind. */
  addresses(n: number): string[];
  /** Largest world size to try (sockets cost more than promises). */
  maxRanks: number;
}

/** Deterministic uniform [0, 1) numbers (mulberry32) so a failure reproduces. */
export function rng(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() / 4294967296;
}

/** Test reference: the element-wise sum in float64. */
export function naiveSum(inputs: readonly Float32Array[]): Float64Array {
  const out = new Float64Array(inputs[0]?.length ?? 0);
  for (const x of inputs) for (let i = 0; i < out.length; i++) out[i]! += x[i]!;
  return out;
}

async function withRing<T>(
  fx: RingFixture,
  n: number,
  body: (rings: RingChannel[]) => Promise<T>,
): Promise<T> {
  const rings = await openLocalRing(fx.transport, fx.addresses(n));
  try {
    return await body(rings);
  } finally {
    await Promise.all(rings.map(closeRing));
  }
}

/** Index of the first element whose bits differ, or -1 (vitest's toEqual is slow on 758K floats). */
export function firstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

async function reduceAll(
  rings: RingChannel[],
  bufs: Float32Array[],
  opts: RingAllReduceOptions,
): Promise<void> {
  await Promise.all(rings.map((ch, r) => ringAllReduce(bufs[r]!, ch, opts)));
}

/** Random inputs: integer-valued (sums are exact in float32) or real-valued in [-1, 1). */
function inputs(n: number, length: number, seed: number, integers: boolean): Float32Array[] {
  const rand = rng(seed);
  return Array.from({ length: n }, () =>
    Float32Array.from({ length }, () => (integers ? Math.floor(rand() * 2001) - 1000 : rand() * 2 - 1)),
  );
}

export function describeRingAllReduce(name: string, makeFixture: () => RingFixture): void {
  describe(`ring all-reduce over ${name}`, () => {
    const fx = makeFixture();
    const sizes = (n: number): number[] => [...new Set([0, 1, Math.max(0, n - 1), 7 * n + 3, 1000])];
    const worlds = Array.from({ length: fx.maxRanks }, (_, i) => i + 1);

    it.each(worlds)(
      'equals the exact sum on every rank, bit for bit, for N = %i at sizes 0, 1, < N, not divisible by N',
      async (n) => {
        await withRing(fx, n, async (rings) => {
          let step = 0;
          for (const length of sizes(n)) {
            for (const chunkElements of [3, undefined]) {
              const bufs = inputs(n, length, 1000 * n + length, true);
              const want = Float32Array.from(naiveSum(bufs));
              await reduceAll(rings, bufs, { step: step++, timeoutMs: 5000, chunkElements });
              for (const b of bufs) expect(firstDifference(b, want)).toBe(-1);
            }
          }
        });
      },
    );

    it('matches a float64 sum within 1e-5 relative error for random real values, N = 3', async () => {
      await withRing(fx, 3, async (rings) => {
        const bufs = inputs(3, 10_007, 42, false);
        const want = naiveSum(bufs);
        const scale = naiveSum(bufs.map((b) => b.map(Math.abs)));
        await reduceAll(rings, bufs, { step: 0, timeoutMs: 5000, chunkElements: 1000 });
        let worst = 0;
        for (let i = 0; i < want.length; i++)
          worst = Math.max(worst, Math.abs(bufs[0]![i]! - want[i]!) / scale[i]!);
        expect(worst).toBeLessThan(1e-5);
        expect(firstDifference(bufs[1]!, bufs[0]!)).toBe(-1);
        expect(firstDifference(bufs[2]!, bufs[0]!)).toBe(-1);
      });
    });

    it(`sums the 758,226-float DenseNet gradient (3,032,904 bytes) at N = ${fx.maxRanks}, three steps in a row`, async () => {
      const n = fx.maxRanks;
      await withRing(fx, n, async (rings) => {
        for (let step = 0; step < 3; step++) {
          const bufs = inputs(n, 758_226, step, true);
          const want = Float32Array.from(naiveSum(bufs));
          await reduceAll(rings, bufs, { step, timeoutMs: 10_000 });
          for (const b of bufs) expect(firstDifference(b, want)).toBe(-1);
        }
      });
    });

    it('lets every rank overwrite its buffer as soon as its own call resolves', async () => {
      const n = Math.min(4, fx.maxRanks);
      await withRing(fx, n, async (rings) => {
        const bufs = inputs(n, 50_000, 7, true);
        const want = Float32Array.from(naiveSum(bufs));
        const results = await Promise.all(
          rings.map(async (ch, r) => {
            await ringAllReduce(bufs[r]!, ch, { step: 0, timeoutMs: 5000, chunkElements: 1000 });
            const copy = bufs[r]!.slice();
            bufs[r]!.fill(Number.NaN); // while the other ranks may still be receiving
            return copy;
          }),
        );
        for (const got of results) expect(firstDifference(got, want)).toBe(-1);
      });
    });

    it('fails with E_TIMEOUT naming the missing left neighbour, the step and the phase', async () => {
      await withRing(fx, 3, async (rings) => {
        // Rank 2 never calls ringAllReduce.
        const results = await Promise.allSettled(
          rings.slice(0, 2).map((ch) => ringAllReduce(new Float32Array(10), ch, { step: 7, timeoutMs: 200 })),
        );
        const [r0, r1] = results.map((r) => (r.status === 'rejected' ? (r.reason as unknown) : undefined));
        expect(isDdpError(r0, 'E_TIMEOUT')).toBe(true);
        expect((r0 as Error).message).toMatch(
          /rank 0 got nothing from rank 2 .* for 200 ms in all-reduce step 7, reduce-scatter ring step 1 of 2/,
        );
        expect(isDdpError(r1, 'E_TIMEOUT')).toBe(true);
        expect((r1 as Error).message).toContain('from rank 0');
      });
    });

    it('fails with E_PROTOCOL naming the step when ranks disagree on it', async () => {
      await withRing(fx, 2, async (rings) => {
        // The mismatch is reported as soon as the neighbour's frame arrives; the timeout only bounds
        // a hang. 500 ms could lapse first on a loaded 2-core machine and read as E_TIMEOUT.
        const results = await Promise.allSettled([
          ringAllReduce(new Float32Array(4), rings[0]!, { step: 1, timeoutMs: 10_000 }),
          ringAllReduce(new Float32Array(4), rings[1]!, { step: 2, timeoutMs: 10_000 }),
        ]);
        const reasons = results.map((r) => (r.status === 'rejected' ? (r.reason as Error) : undefined));
        expect(reasons.every((e) => isDdpError(e, 'E_PROTOCOL'))).toBe(true);
        expect(reasons[0]!.message).toContain("field 'step' is 2, expected 1");
      });
    });
  });
}
