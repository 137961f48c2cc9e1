// The checkpoint manifest: what a checkpoint directory holds (each file's size and SHA-256) and where
// in training it was taken. Written last, after every file it names is on disk, so a directory
// without a valid manifest is not a checkpoint (PyTorch DCP's `.metadata` plays the same part). Pure:
// the coordinator's checkpoint store does the I/O.
import { createHash } from 'node:crypto';
import { DdpError } from '../errors';

export const MANIFEST_FILE = 'manifest.json';
export const CHECKPOINT_FORMAT = 'tfjs-ddp-checkpoint/1';

export interface ManifestEntry {
  name: string;
  bytes: number;
  sha256: string;
}

/** manifest.json as written (snake_case keys, like every document of a run). */
export interface CheckpointManifest {
  format: typeof CHECKPOINT_FORMAT;
  /** Optimizer steps completed when it was taken. */
  step: number;
  /** The epoch it was taken in (from 1), and how many of that epoch's global batches were done. */
  epoch: number;
  batch_in_epoch: number;
  /** ISO time it was written. */
  time: string;
  files: ManifestEntry[];
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function buildManifest(files: Record<string, Uint8Array>, at: { step: number; epoch: number; batchInEpoch: number; time?: string }): CheckpointManifest {
  const names = Object.keys(files).sort();
  if (names.includes(MANIFEST_FILE)) throw new DdpError('E_INTERNAL', `a checkpoint file may not be called ${MANIFEST_FILE}`);
  return {
    format: CHECKPOINT_FORMAT,
    step: at.step,
    epoch: at.epoch,
    batch_in_epoch: at.batchInEpoch,
    time: at.time ?? new Date().toISOString(),
    files: names.map((name) => ({ name, bytes: files[name]!.byteLength, sha256: sha256Hex(files[name]!) })),
  };
}

/**
 * Parses a manifest's text; also one written before documents were snake_case (`batchInEpoch`), so
 * that older checkpoints still resume.
 * @throws DdpError E_CHECKPOINT naming `where` when it is not a manifest of this format.
 */
export function parseManifest(text: string, where: string): CheckpointManifest {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw new DdpError('E_CHECKPOINT', `${where} is not JSON (${(e as Error).message})`);
  }
  const o = (isRecord(m) && m['batch_in_epoch'] === undefined && m['batchInEpoch'] !== undefined ? renameKey(m, 'batchInEpoch', 'batch_in_epoch') : m) as Partial<CheckpointManifest>;
  const int = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  if (typeof m !== 'object' || m === null || o.format !== CHECKPOINT_FORMAT || !int(o.step) || !int(o.epoch) || !int(o.batch_in_epoch) || !Array.isArray(o.files)) {
    throw new DdpError('E_CHECKPOINT', `${where} is not a ${CHECKPOINT_FORMAT} manifest`);
  }
  for (const f of o.files) {
    if (typeof f?.name !== 'string' || !/^[\w.-]+$/.test(f.name) || !int(f.bytes) || typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256)) {
      throw new DdpError('E_CHECKPOINT', `${where} has a malformed file entry ${JSON.stringify(f)}`);
    }
  }
  return o as CheckpointManifest;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `o` with key `from` renamed `to`. */
function renameKey(o: Record<string, unknown>, from: string, to: string): Record<string, unknown> {
  const { [from]: value, ...rest } = o;
  return { ...rest, [to]: value };
}

/**
 * Checks one file of a checkpoint against its manifest entry.
 * @throws DdpError E_CHECKPOINT naming the file, its size or digest and the expected one.
 */
export function verifyEntry(entry: ManifestEntry, data: Uint8Array | null, where: string): void {
  if (data === null) throw new DdpError('E_CHECKPOINT', `${where}/${entry.name} is missing`);
  if (data.byteLength !== entry.bytes) throw new DdpError('E_CHECKPOINT', `${where}/${entry.name} has ${data.byteLength} bytes, the manifest says ${entry.bytes} (truncated?)`);
  const got = sha256Hex(data);
  if (got !== entry.sha256) throw new DdpError('E_CHECKPOINT', `${where}/${entry.name} has sha256 ${got.slice(0, 12)}…, the manifest says ${entry.sha256.slice(0, 12)}…`);
}
