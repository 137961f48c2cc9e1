// TrainingState: what every rank holds identically and a run needs to go on — the weights (layout
// order), the BatchNorm moving statistics (averaged over the ranks when it is taken) and the
// optimizer's slots — as one object. Checkpoints store it, resume loads it into every rank, and a
// replaced rank is re-synced from it. Encoded as a JSON header and one binary of float32 arrays.
import { createHash } from 'node:crypto';
import { DdpError } from '../errors';

export interface TrainingState {
  weights: Float32Array;
  batchNorm: Float32Array;
  optimizer: { name: string; shape: number[]; data: Float32Array }[];
  /** Weight checksum of the rank it was taken from (every rank checks it after loading). */
  checksum: string;
}

/**
 * SHA-256 of a training state as it travels (frames: weights, BatchNorm statistics, then one per
 * optimizer slot; with the slots' shapes), hex. A rank that loaded a state must hold one with the
 * digest of what it was sent: the weight checksum alone does not see an optimizer slot lost, stale
 * or mixed up in a transfer, whose effect shows only steps later, as ranks that drift apart.
 */
export function stateDigest(frames: Uint8Array[], slotShapes: number[][]): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ frames: frames.map((f) => f.byteLength), slots: slotShapes }));
  for (const f of frames) h.update(f);
  return h.digest('hex');
}

/** stateDigest of a state held as arrays (what a rank exports). */
export function digestOfState(s: Pick<TrainingState, 'weights' | 'batchNorm'> & { optimizer: { shape: number[]; data: Float32Array }[] }): string {
  const bytes = (f: Float32Array) => new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
  return stateDigest([bytes(s.weights), bytes(s.batchNorm), ...s.optimizer.map((o) => bytes(o.data))], s.optimizer.map((o) => o.shape));
}

/** state.json: snake_case keys, like every document of a run. */
interface Header {
  checksum: string;
  weights: number;
  batch_norm: number;
  optimizer: { name: string; shape: number[]; length: number }[];
}

/** The state as `state.json` (header) and `state.bin` (the arrays, in header order). */
export function encodeTrainingState(s: TrainingState): { json: string; bin: Uint8Array } {
  const arrays = [s.weights, s.batchNorm, ...s.optimizer.map((o) => o.data)];
  const bin = new Uint8Array(arrays.reduce((n, a) => n + a.byteLength, 0));
  let off = 0;
  for (const a of arrays) {
    bin.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), off);
    off += a.byteLength;
  }
  const header: Header = { checksum: s.checksum, weights: s.weights.length, batch_norm: s.batchNorm.length, optimizer: s.optimizer.map((o) => ({ name: o.name, shape: o.shape, length: o.data.length })) };
  return { json: `${JSON.stringify(header, null, 1)}\n`, bin };
}

/**
 * Also reads the header of a checkpoint written before documents were snake_case (`batchNorm`).
 * @throws DdpError E_CHECKPOINT when the header is malformed or its lengths do not add up to the binary's.
 */
export function decodeTrainingState(json: string, bin: Uint8Array, where: string): TrainingState {
  let h: Header;
  try {
    h = JSON.parse(json) as Header;
  } catch (e) {
    throw new DdpError('E_CHECKPOINT', `${where}/state.json is not JSON (${(e as Error).message})`);
  }
  const old = h as Header & { batchNorm?: number };
  if (typeof h === 'object' && h !== null && old.batch_norm === undefined && old.batchNorm !== undefined) h = { ...h, batch_norm: old.batchNorm };
  const n = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  if (typeof h?.checksum !== 'string' || !n(h.weights) || !n(h.batch_norm) || !Array.isArray(h.optimizer) || !h.optimizer.every((o) => typeof o?.name === 'string' && Array.isArray(o.shape) && n(o.length))) {
    throw new DdpError('E_CHECKPOINT', `${where}/state.json is not a training-state header`);
  }
  const lengths = [h.weights, h.batch_norm, ...h.optimizer.map((o) => o.length)];
  const total = lengths.reduce((a, b) => a + b, 0) * 4;
  if (total !== bin.byteLength) throw new DdpError('E_CHECKPOINT', `${where}/state.bin has ${bin.byteLength} bytes, its header describes ${total}`);
  // One aligned copy; every array views it.
  const floats = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
  let off = 0;
  const take = (len: number) => floats.subarray(off, (off += len));
  const weights = take(h.weights);
  const batchNorm = take(h.batch_norm);
  return { checksum: h.checksum, weights, batchNorm, optimizer: h.optimizer.map((o) => ({ name: o.name, shape: o.shape, data: take(o.length) })) };
}
