// The worker's side of the silent-data-corruption audit (--audit-every): recompute another rank's
// micro-batch with this rank's weights and digest its gradient, leaving every state as it was; and
// the fault it is tested with (TFJS_DDP_INJECT_BITFLIP: a finite but wrong gradient). Called by the
// worker process on an audit step, between its own gradient and the all-reduce; the coordinator
// compares the digests (coordinator/src/policy/sdc-audit.ts).
import * as tf from '@tensorflow/tfjs-core';
import {
  digestToWire,
  gradientDigest,
  uint32FromFrame,
  type AuditRequest,
  type GradientDigest,
  type WireAuditReport,
} from '@tfjs-ddp/core';
import { sharedCopy } from '../kernels/share-identity';
import { flipExponentBit } from './flip-exponent-bit';
import type { WorkerEngine } from './worker-engine';

/**
 * The digest of the gradient of `indices` as one micro-batch, with the weights as they are (before
 * this step's update). The BatchNorm moving statistics the forward pass moves are put back exactly
 * (the same tensors), no optimizer step is taken and nothing is added to the step's gradient: the
 * run's arithmetic is unchanged.
 */
export async function recomputeDigest(
  engine: Pick<WorkerEngine, 'trainer' | 'task'>,
  indices: Uint32Array,
): Promise<GradientDigest> {
  const stats = engine.trainer.model.nonTrainableWeights.map((w) =>
    (w as unknown as { read(): tf.Variable }).read(),
  );
  // Clones share storage: the layers assign new tensors to the statistics, so these stay valid.
  const saved = stats.map((v) => tf.keep(sharedCopy(v)));
  const grad = engine.trainer.newGradientBuffer();
  try {
    const { xs, ys } = await engine.task.batch(engine.task.train, indices);
    try {
      await engine.trainer.accumulate({ x: xs, y: ys }, grad);
    } finally {
      tf.dispose([xs, ys]);
    }
  } finally {
    saved.forEach((t, i) => stats[i]!.assign(t));
    tf.dispose(saved);
  }
  return gradientDigest(grad);
}

/**
 * A rank's part of an audit step, after its own gradient: the report of its contribution's digest
 * (`own`, from computeGradients), of its recomputation of `of`'s micro-batch (`frame`: its sample
 * indices; absent when the coordinator left it unchecked) and, when asked (`of.self`, a run's first
 * audit), of its recomputation of its own first micro-batch (`mine`: that micro-batch's indices);
 * and when the recomputations began and how long they took (performance.now() ms).
 */
export async function auditStep(
  engine: WorkerEngine,
  of: AuditRequest,
  frame: Uint8Array | undefined,
  own: GradientDigest | undefined,
  mine: Uint32Array,
): Promise<{ audit?: WireAuditReport; auditMs?: number; auditAt?: number }> {
  if (own === undefined) return {};
  const t0 = performance.now();
  // A turn for the event loop first (pings), as between micro-batches.
  await new Promise<void>((resolve) => setImmediate(resolve));
  const indices = frame === undefined ? null : uint32FromFrame(frame, "the audit's sample indices");
  const checked =
    indices === null || indices.length === 0
      ? null
      : { rank: of.rank, digest: digestToWire(await recomputeDigest(engine, indices)) };
  const self =
    of.self === true && mine.length > 0 ? { self: digestToWire(await recomputeDigest(engine, mine)) } : {};
  return {
    audit: { own: digestToWire(own), checked, ...self },
    auditMs: performance.now() - t0,
    auditAt: t0,
  };
}

/**
 * TFJS_DDP_INJECT_WEIGHT_BITFLIP: after a step's update, one weight of this rank gets its lowest
 * exponent bit flipped (doubled or halved: finite, and enough to make the ranks' weights differ).
 */
export async function flipWeightBit(engine: WorkerEngine): Promise<number> {
  const weights = await engine.trainer.layout.readWeights();
  const at = flipExponentBit(weights, 23);
  engine.trainer.layout.writeWeights(weights);
  return at;
}
