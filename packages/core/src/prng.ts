// Small deterministic PRNG (mulberry32) and a 32-bit mixer, used by the sampler, the synthetic
// dataset writer and tests. Integer-only arithmetic (Math.imul, >>>), so the same seed gives the same stream
// on every machine and every Node version.

/** A generator of uniformly distributed uint32 values. */
export type Rng = () => number;

/**
 * mulberry32: 32 bits of state, passes PractRand to 2^32 bytes; plenty for shuffling 60k indices.
 * @param seed any number; only its low 32 bits are used (fold larger seeds with {@link mixSeed})
 */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** murmur3's fmix32 finalizer: a bijection on uint32 with good avalanche. */
export function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Folds a seed and any number of stream ids (e.g. the epoch) into one uint32 seed.
 * Seeds above 2^32 keep their high bits (folded in), so 1 and 2^32+1 give different streams.
 */
export function mixSeed(seed: number, ...streams: number[]): number {
  let h = mix32((seed >>> 0) ^ mix32(Math.floor(seed / 0x1_0000_0000) >>> 0));
  for (const s of streams) h = mix32(h ^ mix32((s >>> 0) + 0x9e3779b9));
  return h;
}

/** Uniform integer in [0, n) for 1 <= n <= 2^32, unbiased (rejection sampling). */
export function randomInt(rng: Rng, n: number): number {
  const limit = Math.floor(0x1_0000_0000 / n) * n;
  let x = rng();
  while (x >= limit) x = rng();
  return x % n;
}
