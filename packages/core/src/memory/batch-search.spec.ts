import { describe, expect, it } from 'vitest';
import { isDdpError } from '../errors';
import { mulberry32 } from '../prng';
import {
  bisectMaximum,
  doublingBinarySearch,
  fitMemoryModel,
  powerOfTwoSearch,
  predictMicroBatch,
  searchMicroBatch,
  type Trial,
  type TrialRunner,
} from './batch-search';
import { formatBytes, parseBytes } from './bytes';

const MiB = 2 ** 20;

/**
 * A deterministic fake device: a step at micro-batch b needs base + perSample·b bytes, plus noise
 * (fragmentation) of up to ±noise·perSample·b; it crashes when that exceeds the capacity. Records
 * every trial so tests can count them.
 */
function fakeDevice(o: { base: number; perSample: number; capacity: number; noise?: number; seed?: number }) {
  const r32 = mulberry32(o.seed ?? 1);
  const rand = () => r32() / 2 ** 32;
  const need = (b: number) => o.base + o.perSample * b * (1 + (o.noise ?? 0) * (2 * rand() - 1));
  const sizes: number[] = [];
  const run: TrialRunner = async (bs) => {
    const out: Trial[] = [];
    for (const b of bs) {
      sizes.push(b);
      const peak = need(b);
      if (peak > o.capacity) {
        out.push({ microBatch: b, ran: false, peakBytes: null, error: 'out of memory' });
        break;
      }
      out.push({ microBatch: b, ran: true, peakBytes: Math.round(peak) });
    }
    return out;
  };
  /** The largest b that runs, noise-free. */
  const trueMax = Math.floor((o.capacity - o.base) / o.perSample);
  return { run, sizes, trueMax };
}

describe('parseBytes / formatBytes', () => {
  it('reads binary and decimal units, plain numbers, and rejects the rest', () => {
    expect(parseBytes('3GiB')).toBe(3 * 2 ** 30);
    expect(parseBytes('1500 MiB')).toBe(1500 * MiB);
    expect(parseBytes('2GB')).toBe(2e9);
    expect(parseBytes('2e9')).toBe(2e9);
    expect(parseBytes('512m')).toBe(512 * MiB);
    expect(parseBytes(4096)).toBe(4096);
    for (const bad of ['', 'lots', '-1GiB', '3 parsecs', '1.2.3']) expect(parseBytes(bad)).toBeNaN();
    expect(formatBytes(3 * 2 ** 30)).toBe('3.00 GiB');
    expect(formatBytes(1536 * 1024)).toBe('1.5 MiB');
  });
});

describe('fitMemoryModel', () => {
  it('recovers an exact line and predicts within the budget', () => {
    const m = fitMemoryModel([
      { microBatch: 4, peakBytes: 100 * MiB + 4 * 25 * MiB },
      { microBatch: 16, peakBytes: 100 * MiB + 16 * 25 * MiB },
    ]);
    expect(m.baseBytes / MiB).toBeCloseTo(100, 6);
    expect(m.bytesPerSample / MiB).toBeCloseTo(25, 6);
    expect(predictMicroBatch(m, 1100 * MiB)).toBe(40);
    expect(predictMicroBatch(m, 50 * MiB)).toBe(0);
  });
});

describe('searchMicroBatch on a fake device', () => {
  it('finds ≥ 90% of the largest micro-batch within budget with at most 4 trials, never one that does not run', async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const r32 = mulberry32(seed * 7);
      const rand = () => r32() / 2 ** 32;
      const base = (50 + 400 * rand()) * MiB;
      const perSample = (2 + 40 * rand()) * MiB;
      const capacity = 4 * 2 ** 30;
      const dev = fakeDevice({ base, perSample, capacity, noise: 0.01, seed });
      const r = await searchMicroBatch(dev.run, { budgetBytes: capacity, margin: 0.05, maxMicroBatch: 100_000, probes: [4, 16] });
      expect(dev.sizes.length).toBeLessThanOrEqual(4);
      // Against the largest micro-batch within the usable budget (the margin is policy, not error).
      const usableMax = Math.floor((r.usableBytes - base) / perSample);
      expect(r.microBatch, JSON.stringify({ seed, trials: r.trials, usableMax })).toBeGreaterThanOrEqual(0.9 * usableMax);
      expect(r.microBatch).toBeLessThanOrEqual(dev.trueMax);
      // The chosen size was itself a trial that fitted the usable budget.
      const chosen = r.trials.find((t) => t.microBatch === r.microBatch)!;
      expect(chosen.ran && chosen.peakBytes! <= r.usableBytes).toBe(true);
    }
  });

  it('stops at maxMicroBatch when that fits (capped), with 3 trials', async () => {
    const dev = fakeDevice({ base: 100 * MiB, perSample: MiB, capacity: 4 * 2 ** 30 });
    const r = await searchMicroBatch(dev.run, { budgetBytes: 4 * 2 ** 30, margin: 0.05, maxMicroBatch: 256, probes: [4, 16] });
    expect(r).toMatchObject({ microBatch: 256, capped: true });
    expect(dev.sizes).toEqual([4, 16, 256]);
  });

  it('a budget below the device capacity is what limits the choice', async () => {
    const dev = fakeDevice({ base: 100 * MiB, perSample: 10 * MiB, capacity: 4 * 2 ** 30 });
    const r = await searchMicroBatch(dev.run, { budgetBytes: 500 * MiB, margin: 0, maxMicroBatch: 10_000, probes: [4, 16] });
    expect(r.microBatch).toBe(40);
    expect(r.model!.bytesPerSample / MiB).toBeCloseTo(10, 3);
  });

  it('recovers when the footprint grows faster than the probes suggest (refit, 4 trials at most)', async () => {
    // Piecewise: cheap at small batches, expensive per sample beyond 32 (e.g. a workspace that kicks in).
    const sizes: number[] = [];
    const need = (b: number) => 100 * MiB + 5 * MiB * b + (b > 32 ? 10 * MiB * (b - 32) : 0);
    const run: TrialRunner = async (bs) => {
      const out: Trial[] = [];
      for (const b of bs) {
        sizes.push(b);
        const peak = need(b);
        out.push(peak > 2 ** 30 ? { microBatch: b, ran: false, peakBytes: null, error: 'OOM' } : { microBatch: b, ran: true, peakBytes: peak });
        if (peak > 2 ** 30) break;
      }
      return out;
    };
    const r = await searchMicroBatch(run, { budgetBytes: 2 ** 30, margin: 0, maxMicroBatch: 10_000, probes: [4, 16] });
    expect(sizes.length).toBeLessThanOrEqual(4);
    expect(need(r.microBatch)).toBeLessThanOrEqual(2 ** 30);
    // The true maximum is 82 (100 + 5·82 + 10·50 = 1010 MiB). The aimed trial (176) crashes, and the
    // fourth trial goes to the geometric mean of what fitted and what crashed: 53, not the probe's 16.
    expect(sizes).toEqual([4, 16, 176, 53]);
    expect(r.microBatch).toBe(53);
  });

  it('when the larger probe does not fit, keeps the smaller; when nothing fits, says so', async () => {
    const small = fakeDevice({ base: 100 * MiB, perSample: 100 * MiB, capacity: 1000 * MiB });
    const r = await searchMicroBatch(small.run, { budgetBytes: 1000 * MiB, margin: 0, maxMicroBatch: 64, probes: [4, 16] });
    expect(r.microBatch).toBe(4);
    const none = fakeDevice({ base: 900 * MiB, perSample: 200 * MiB, capacity: 1000 * MiB });
    const e = await searchMicroBatch(none.run, { budgetBytes: 1000 * MiB, margin: 0, maxMicroBatch: 64, probes: [4, 16] }).catch((x: unknown) => x);
    expect(isDdpError(e, 'E_MEMORY')).toBe(true);
    expect(String(e)).toMatch(/raise --memory-budget/);
    // 4 crashes, 1 fits (400 MiB): a line through 1 alone predicts 2 (700 MiB), which fits.
    const few = fakeDevice({ base: 100 * MiB, perSample: 300 * MiB, capacity: 1000 * MiB });
    expect((await searchMicroBatch(few.run, { budgetBytes: 1000 * MiB, margin: 0, maxMicroBatch: 64, probes: [4, 16] })).microBatch).toBe(2);
    expect(few.sizes).toEqual([4, 1, 2]);
    const one = fakeDevice({ base: 100 * MiB, perSample: 600 * MiB, capacity: 1000 * MiB });
    expect((await searchMicroBatch(one.run, { budgetBytes: 1000 * MiB, margin: 0, maxMicroBatch: 64, probes: [4, 16] })).microBatch).toBe(1);
  });

  it('when even the smaller probe is over a budget below the device, finds what fits between it and 1', async () => {
    // The webgpu software adapter at 32×32 under --memory-budget 80MiB (measured: 36 → 136 MB,
    // 1 → 27.6 MB): the probes run, over the budget; the line through 1 and 36 predicts 17.
    const gpu = fakeDevice({ base: 24 * MiB, perSample: 3.1 * MiB, capacity: 100_000 * MiB });
    const r = await searchMicroBatch(gpu.run, { budgetBytes: 80 * MiB, margin: 0, maxMicroBatch: 256, probes: [36, 144] });
    expect(gpu.sizes).toEqual([36, 144, 1, 17]);
    expect(r.microBatch).toBe(17);
  });
});

describe('Lightning-style strategies and the bisection, through the same fake device', () => {
  it('power-of-two keeps the last power that fitted; doubling + binary search finds the maximum', async () => {
    const dev = () => fakeDevice({ base: 100 * MiB, perSample: 25 * MiB, capacity: 4 * 2 ** 30 });
    const usable = 4 * 2 ** 30;
    const d1 = dev();
    const p = await powerOfTwoSearch(d1.run, { usableBytes: usable, init: 2, maxMicroBatch: 100_000 });
    expect(p.microBatch).toBe(128);
    expect(p.trials).toHaveLength(8); // 2..256, the last one failing
    const d2 = dev();
    const b = await doublingBinarySearch(d2.run, { usableBytes: usable, init: 2, maxMicroBatch: 100_000 });
    expect(b.microBatch).toBe(d2.trueMax);
    expect(b.trials.length).toBeGreaterThan(8);
    const d3 = dev();
    const truth = await bisectMaximum(async (x) => (await d3.run([x]))[0]!.ran, 0, 4096);
    expect(truth.maximum).toBe(d3.trueMax);
  });
});
