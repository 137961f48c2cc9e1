// How a global batch is split over the ranks: by capacity, each rank's share computed in micro-batches
// (gradient accumulation). Used by the loop state (loop-state.ts), the start and membership events and
// summary.json's batch_plan, and read back by the report (report/report-data.ts).
import { splitBatch } from '@tfjs-ddp/data';

/** One rank's share of a full global batch, and how it computes it. */
export interface RankPlan {
  rank: number;
  /** Largest micro-batch the rank reported (measured by its memory-fit search, or configured). */
  capacity: number;
  /** Samples per full global batch (split in proportion to the capacities). */
  samples: number;
  micro_batch: number;
  /** Micro-batches per step: gradient accumulation steps. */
  accumulation: number;
}

/** Per-rank samples, micro-batch and accumulation for a global batch of `batchSize`. */
export function batchPlan(
  batchSize: number,
  capacities: number[],
  microBatches: number[] = capacities,
): RankPlan[] {
  const shares = splitBatch(
    Uint32Array.from({ length: batchSize }, (_, i) => i),
    capacities,
  ).map((s) => s.length);
  return shares.map((samples, rank) => {
    const micro = Math.max(1, Math.min(microBatches[rank]!, samples));
    return {
      rank,
      capacity: capacities[rank]!,
      samples,
      micro_batch: micro,
      accumulation: Math.ceil(samples / micro),
    };
  });
}
