// Training state between ranks and checkpoints: a rank's weights, BatchNorm statistics and optimizer
// slots exported through the coordinator and loaded into others, each load checked (the weights'
// checksum, and the digest of everything else) so that a transfer that lost a slot stops the run.
import { DdpError, stateDigest, type TrainingState, type WorkerToCoordinator } from '@tfjs-ddp/core';
import type { ControlIo } from './control-io';

type StateMsg = Extract<WorkerToCoordinator, { type: 'state' }>;

/** Rank `source`'s training state (weights, BatchNorm statistics, optimizer slots) and its checksum. */
export async function exportState(io: ControlIo, source: number): Promise<{ msg: StateMsg; binary: Uint8Array[] }> {
  await io.sendTo(source, { type: 'export-state' });
  const st = (await io.collect('state', [source], io.o.stepTimeoutMs)).get(source)!;
  return { msg: st.msg as StateMsg, binary: st.binary };
}

/** Loads a training state into `ranks` and checks that each then has `checksum`. */
export async function loadState(io: ControlIo, ranks: number[], optimizer: { name: string; shape: number[] }[], binary: Uint8Array[], checksum: string, from: string): Promise<void> {
  for (const r of ranks) await io.sendTo(r, { type: 'load-state', optimizer }, binary);
  const loaded = await io.collect('state-loaded', ranks, io.o.stepTimeoutMs);
  const digest = stateDigest(binary, optimizer.map((o) => o.shape));
  for (const r of ranks) {
    const got = loaded.get(r)!.msg as Extract<WorkerToCoordinator, { type: 'state-loaded' }>;
    if (got.checksum !== checksum) throw new DdpError('E_DIVERGED', `rank ${r} has weights ${got.checksum} after loading ${from} (checksum ${checksum})`, 'this is a bug, or the state belongs to another model: report it with the run directory');
    // The weights agree; the optimizer slots and BatchNorm statistics must too.
    if (got.stateDigest !== digest) throw new DdpError('E_DIVERGED', `rank ${r} holds a training state other than ${from} after loading it: its weights agree (checksum ${checksum}), its optimizer slots or BatchNorm statistics do not (state digest ${String(got.stateDigest).slice(0, 16)}…, sent ${digest.slice(0, 16)}…)`, 'this is a bug, or the state was taken with another optimizer: report it with the run directory');
  }
}

/** Copies rank `source`'s training state (weights, BatchNorm statistics, optimizer slots) into `targets`. */
export async function syncFrom(io: ControlIo, source: number, targets: number[]): Promise<void> {
  if (targets.length === 0) return;
  const { msg: state, binary } = await exportState(io, source);
  await loadState(io, targets, state.optimizer, binary, state.checksum, `the state of rank ${source}`);
  io.o.log.info({ targets, from: source, checksum: state.checksum }, 'ranks re-synced');
}

/** Rank 0's training state, for a checkpoint. */
export async function stateOfRankZero(io: ControlIo): Promise<TrainingState> {
  const { msg, binary } = await exportState(io, 0);
  const floats = (b: Uint8Array) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  if (binary.length !== 2 + msg.optimizer.length) io.fail({ kind: 'protocol', rank: 0, message: `state with ${binary.length} frames for ${msg.optimizer.length} optimizer slots` });
  return { checksum: msg.checksum, weights: floats(binary[0]!), batchNorm: floats(binary[1]!), optimizer: msg.optimizer.map((o, i) => ({ ...o, data: floats(binary[2 + i]!) })) };
}

/** A checkpoint's training state into every rank. */
export async function restoreState(io: ControlIo, state: TrainingState): Promise<void> {
  const bytes = (f: Float32Array) => new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
  const optimizer = state.optimizer.map((o) => ({ name: o.name, shape: o.shape }));
  await loadState(io, io.roster.all(), optimizer, [bytes(state.weights), bytes(state.batchNorm), ...state.optimizer.map((o) => bytes(o.data))], state.checksum, 'the checkpoint');
}
