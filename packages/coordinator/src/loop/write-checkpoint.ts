// Writes one checkpoint of a training run: the group's snapshot (model files and training state),
// the run's resolved config and the loop's position (loop.json), through the atomic checkpoint store.
// Called by train-loop.ts every N steps, at epoch ends and when the run is stopped.
import { encodeTrainingState } from '@tfjs-ddp/core';
import type { CheckpointStore } from '../checkpoint/checkpoint-store';
import { weightsVerdict } from '../policy/sdc-audit';
import { loopCheckpointToJson } from '../run-documents';
import { stopForSdc } from './audit-guard';
import type { LoopCheckpoint } from '../checkpoint/loop-checkpoint';
import type { LoopContext } from './loop-state';

export interface Checkpointing {
  store: CheckpointStore;
  /** A checkpoint every this many steps (0: only at epoch ends and when stopped). */
  every: number;
  /** Files every checkpoint also carries (the resolved config). */
  extraFiles: Record<string, Uint8Array>;
}

/**
 * Writes a checkpoint positioned before batch `batchInEpoch` of `epoch`; nothing when there is no
 * checkpointing or this step was checkpointed already.
 * @throws DdpError E_SDC when the ranks' weights differ (nothing is written then).
 */
export async function writeCheckpoint(
  ctx: LoopContext,
  c: Checkpointing | undefined,
  reason: string,
  epoch: number,
  batchInEpoch: number,
  epochSums: LoopCheckpoint['epochSums'],
): Promise<void> {
  const { group, state: s, report } = ctx;
  const step = s.step;
  if (c === undefined || s.checkpointedAt === step) return;
  const c0 = performance.now();
  report.begin('checkpoint', { step, reason });
  const { files, state, checksums } = await group.snapshot({ step, epoch, batch_in_epoch: batchInEpoch });
  // Nothing of ranks whose weights differ is written (the ranks' checksums come with the snapshot).
  const differ =
    checksums === undefined
      ? null
      : weightsVerdict(checksums, group.describe(), s.auditContext(), 'the checkpoint');
  if (differ !== null) stopForSdc(ctx, differ);
  const loop = s.toCheckpoint(epoch, batchInEpoch, epochSums);
  const { json, bin } = encodeTrainingState(state);
  const enc = (x: unknown) => new TextEncoder().encode(`${JSON.stringify(x, null, 1)}\n`);
  const dir = c.store.write(
    {
      ...files,
      ...c.extraFiles,
      'state.json': new TextEncoder().encode(json),
      'state.bin': bin,
      'loop.json': enc(loopCheckpointToJson(loop)),
    },
    { step, epoch, batchInEpoch },
  );
  s.checkpointedAt = step;
  report.checkpoint({ step, epoch, batchInEpoch, reason, dir, ms: Math.round(performance.now() - c0) });
}
