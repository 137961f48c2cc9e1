// Sample order and shard plan for data-parallel training. Pure (no I/O); the coordinator calls it
// once per epoch and sends each rank its slice of indices, so no image bytes cross the network.
//
// Semantics, compared with torch.utils.data.DistributedSampler:
// - Order: `epochOrder` is a seeded Fisher–Yates permutation of 0..count-1 (mulberry32). The same
//   (count, seed, epoch) gives the same permutation on every machine; each epoch reshuffles, like
//   `sampler.set_epoch(epoch)`.
// - Training: the permutation is cut into *global* batches (`globalBatches`), then each global batch
//   is split across ranks in proportion to integer weights (`splitBatch`), so heterogeneous GPUs can
//   carry different micro-batches while the averaged gradient still equals the gradient of the whole
//   global batch. Torch instead pads the dataset to a multiple of the world size and gives every rank
//   the same count.
// - Remainder: with dropLast=false (the default) the last global batch keeps the leftover
//   count % globalBatch samples, so every training sample is seen exactly once per epoch. With
//   dropLast=true that partial batch is dropped.
// - Evaluation: `evalShards` gives each rank a contiguous shard; shards cover 0..count-1 exactly once,
//   with no padding (torch's DistributedSampler pads by repeating samples, which skews the metric).

import { DdpError } from '@tfjs-ddp/core';
import { mixSeed, mulberry32, randomInt } from '@tfjs-ddp/core';

/**
 * The order in which an epoch visits the samples.
 * @param count number of samples
 * @param seed run seed (any safe integer)
 * @param epoch epoch number; each epoch gets its own permutation
 * @param shuffle false gives the identity order 0..count-1
 * @throws DdpError E_CONFIG when count is not a non-negative integer below 2^32
 */
export function epochOrder(count: number, seed: number, epoch: number, shuffle = true): Uint32Array {
  if (!Number.isInteger(count) || count < 0 || count > 0xffff_ffff) {
    throw new DdpError('E_CONFIG', `sample count ${count} is not an integer in [0, 2^32)`);
  }
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  if (!shuffle) return order;
  const rng = mulberry32(mixSeed(seed, epoch));
  for (let i = count - 1; i > 0; i--) {
    const j = randomInt(rng, i + 1);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

/**
 * Number of optimizer steps in an epoch.
 * @throws DdpError E_CONFIG when globalBatch is not a positive integer
 */
export function stepsPerEpoch(count: number, globalBatch: number, dropLast = false): number {
  checkBatch(globalBatch);
  return dropLast ? Math.floor(count / globalBatch) : Math.ceil(count / globalBatch);
}

/**
 * Cuts an epoch order into global batches (views into `order`, no copy).
 * With dropLast=false (default) the last batch holds the remaining `order.length % globalBatch`
 * samples when that is non-zero; with dropLast=true it is dropped.
 * @throws DdpError E_CONFIG when globalBatch is not a positive integer
 */
export function globalBatches(order: Uint32Array, globalBatch: number, dropLast = false): Uint32Array[] {
  const steps = stepsPerEpoch(order.length, globalBatch, dropLast);
  const batches: Uint32Array[] = [];
  for (let s = 0; s < steps; s++) {
    batches.push(order.subarray(s * globalBatch, Math.min((s + 1) * globalBatch, order.length)));
  }
  return batches;
}

/**
 * Per-rank sample counts for a batch of `total` samples split by integer weights: largest-remainder
 * rounding of total·w/Σw (ties go to the lower rank), so counts sum exactly to `total`. A rank with
 * weight 0 gets 0. A rank with a positive weight gets at least 1 whenever total is at least the number
 * of positive weights (one sample is moved from the rank furthest above its exact share); only a batch
 * smaller than that (a short last batch) leaves some positive-weight ranks empty.
 * @throws DdpError E_CONFIG when a weight is not a non-negative safe integer or all weights are 0
 */
export function splitCounts(total: number, weights: readonly number[]): number[] {
  let sum = 0;
  for (const w of weights) {
    if (!Number.isSafeInteger(w) || w < 0) {
      throw new DdpError(
        'E_CONFIG',
        `rank weights must be non-negative integers, got [${weights.join(', ')}]`,
      );
    }
    sum += w;
  }
  if (sum === 0) throw new DdpError('E_CONFIG', `rank weights are all zero: [${weights.join(', ')}]`);
  // Exact integer arithmetic: total·w stays far below 2^53 for any realistic batch and weight.
  const counts = weights.map((w) => Math.floor((total * w) / sum));
  const remainders = weights.map((w) => (total * w) % sum);
  let left = total - counts.reduce((a, b) => a + b, 0);
  const byRemainder = weights.map((_, r) => r).sort((a, b) => remainders[b]! - remainders[a]! || a - b);
  for (const r of byRemainder) {
    if (left === 0) break;
    counts[r]!++;
    left--;
  }
  const positive = weights.filter((w) => w > 0).length;
  if (total >= positive) {
    for (let r = 0; r < weights.length; r++) {
      if (weights[r]! === 0 || counts[r]! > 0) continue;
      // Donor: the rank furthest above its exact share (count·sum − total·w largest); it has >= 2.
      let donor = -1;
      let surplus = -Infinity;
      for (let d = 0; d < weights.length; d++) {
        const s = counts[d]! * sum - total * weights[d]!;
        if (counts[d]! >= 2 && s > surplus) [donor, surplus] = [d, s];
      }
      counts[donor]!--;
      counts[r] = 1;
    }
  }
  return counts;
}

/**
 * Splits one global batch into per-rank micro-batches (contiguous views, no copy) whose sizes follow
 * {@link splitCounts}. Rank r gets slice r; the slices concatenated give back `indices`.
 * @throws DdpError E_CONFIG as {@link splitCounts}
 */
export function splitBatch(indices: Uint32Array, weights: readonly number[]): Uint32Array[] {
  const counts = splitCounts(indices.length, weights);
  const slices: Uint32Array[] = [];
  let start = 0;
  for (const c of counts) {
    slices.push(indices.subarray(start, start + c));
    start += c;
  }
  return slices;
}

/** A contiguous range of sample indices, `start` inclusive, `end` exclusive. */
export interface Shard {
  start: number;
  end: number;
}

/**
 * Evaluation shards: contiguous, sizes differ by at most one (the first count % worldSize ranks get one
 * more), and the shards of ranks 0..worldSize-1 cover 0..count-1 exactly once. No padding: when
 * count < worldSize the last ranks get empty shards. Sum per-rank correct counts, divide by count.
 * With `rank`, returns that rank's shard; without, all shards in rank order.
 * @throws DdpError E_CONFIG when count is not a non-negative integer, worldSize < 1, or rank is
 *   outside [0, worldSize)
 */
export function evalShards(count: number, worldSize: number, rank: number): Shard;
export function evalShards(count: number, worldSize: number): Shard[];
export function evalShards(count: number, worldSize: number, rank?: number): Shard | Shard[] {
  if (!Number.isInteger(count) || count < 0 || !Number.isInteger(worldSize) || worldSize < 1) {
    throw new DdpError('E_CONFIG', `cannot shard ${count} samples over worldSize=${worldSize}`);
  }
  if (rank === undefined) return Array.from({ length: worldSize }, (_, r) => shardOf(count, worldSize, r));
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
    throw new DdpError('E_CONFIG', `rank ${rank} is not in [0, worldSize=${worldSize})`);
  }
  return shardOf(count, worldSize, rank);
}

function shardOf(count: number, worldSize: number, rank: number): Shard {
  const base = Math.floor(count / worldSize);
  const extra = count % worldSize;
  const start = rank * base + Math.min(rank, extra);
  return { start, end: start + base + (rank < extra ? 1 : 0) };
}

function checkBatch(globalBatch: number): void {
  if (!Number.isInteger(globalBatch) || globalBatch < 1) {
    throw new DdpError('E_CONFIG', `global batch ${globalBatch} is not a positive integer`);
  }
}
