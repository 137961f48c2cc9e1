// Data-plane frames: one ring all-reduce chunk = [header, payload]. The 25-byte header says who sent
// which piece of which all-reduce; decodeChunk checks every field against what the receiver expects
// before the payload is used, so a stray or out-of-step message fails loudly instead of corrupting
// gradients. Called by allreduce/ring-allreduce.ts.
import { DdpError } from '../errors';
import type { Frames } from '../transport/transport';
import { bytesOf, float32FromFrame } from './typed-frames';
import { PROTOCOL_VERSION, checkProtocolVersion } from './version';

export { PROTOCOL_VERSION } from './version';

/** Magic bytes at the start of every data frame header. */
export const FRAME_MAGIC = 'TDDP';

/** Header layout (little-endian, packed): magic[4] version u8, type u8, sender u16, step u32, phase u8,
 * ringStep u16, segment u16, chunk u32, count u32. */
export const HEADER_BYTES = 25;

/** Data-plane message types. */
export const MessageType = { RingChunk: 1 } as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** The two halves of a ring all-reduce. */
export type RingPhase = 'reduce-scatter' | 'all-gather';
const PHASE_CODE: Record<RingPhase, number> = { 'reduce-scatter': 0, 'all-gather': 1 };
const PHASE_NAME = ['reduce-scatter', 'all-gather'] as const;

/** Everything a chunk header states; `count` is the number of float32 values in the payload. */
export interface ChunkHeader {
  type: MessageType;
  /** Rank of the sender. */
  sender: number;
  /** Training step (all-reduce call) this chunk belongs to. */
  step: number;
  phase: RingPhase;
  /** Ring step within the phase, 0 … N−2. */
  ringStep: number;
  /** Index of the buffer segment, 0 … N−1. */
  segment: number;
  /** Index of the chunk within the segment. */
  chunk: number;
  count: number;
}

type Field = Exclude<keyof ChunkHeader, 'phase'>;
const LIMITS: Record<Field, number> = {
  type: 0xff,
  sender: 0xffff,
  step: 0xffffffff,
  ringStep: 0xffff,
  segment: 0xffff,
  chunk: 0xffffffff,
  count: 0xffffffff,
};

function checkRange(h: ChunkHeader): void {
  for (const field of Object.keys(LIMITS) as Field[]) {
    const v = h[field];
    if (!Number.isInteger(v) || v < 0 || v > LIMITS[field]) {
      throw new DdpError(
        'E_PROTOCOL',
        `chunk header field '${field}' is ${v}, outside 0…${LIMITS[field]}`,
        'this is a bug in the caller',
      );
    }
  }
}

/**
 * Frames for one chunk: a fresh header and a byte view of `payload` (not copied here: the transport
 * copies on send).
 * @throws DdpError E_PROTOCOL when a header field does not fit its width or count ≠ payload.length
 */
export function encodeChunk(header: Omit<ChunkHeader, 'count'>, payload: Float32Array): Frames {
  const h: ChunkHeader = { ...header, count: payload.length };
  checkRange(h);
  const bytes = new Uint8Array(HEADER_BYTES);
  const dv = new DataView(bytes.buffer);
  for (let i = 0; i < 4; i++) bytes[i] = FRAME_MAGIC.charCodeAt(i);
  dv.setUint8(4, PROTOCOL_VERSION);
  dv.setUint8(5, h.type);
  dv.setUint16(6, h.sender, true);
  dv.setUint32(8, h.step, true);
  dv.setUint8(12, PHASE_CODE[h.phase]);
  dv.setUint16(13, h.ringStep, true);
  dv.setUint16(15, h.segment, true);
  dv.setUint32(17, h.chunk, true);
  dv.setUint32(21, h.count, true);
  return [bytes, bytesOf(payload)];
}

/** Reads a header without checking it against expectations (magic, version and length are checked). */
export function readChunkHeader(frames: Frames): ChunkHeader {
  const hint =
    'a process that is not part of this job, or another tfjs-ddp version, is sending to this address';
  if (frames.length !== 2) {
    throw new DdpError(
      'E_PROTOCOL',
      `chunk message has ${frames.length} frames, expected 2 (header, payload)`,
      hint,
    );
  }
  const head = frames[0]!;
  if (head.byteLength < HEADER_BYTES) {
    throw new DdpError(
      'E_PROTOCOL',
      `chunk header is truncated: ${head.byteLength} bytes, expected ${HEADER_BYTES}`,
      hint,
    );
  }
  const magic = String.fromCharCode(head[0]!, head[1]!, head[2]!, head[3]!);
  if (magic !== FRAME_MAGIC) {
    throw new DdpError(
      'E_PROTOCOL',
      `chunk header magic is ${JSON.stringify(magic)}, expected "${FRAME_MAGIC}"`,
      hint,
    );
  }
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  checkProtocolVersion(dv.getUint8(4), 'chunk header');
  if (head.byteLength !== HEADER_BYTES) {
    throw new DdpError(
      'E_PROTOCOL',
      `chunk header is ${head.byteLength} bytes, expected ${HEADER_BYTES}`,
      hint,
    );
  }
  const phase = PHASE_NAME[dv.getUint8(12)];
  if (phase === undefined) {
    throw new DdpError(
      'E_PROTOCOL',
      `chunk header field 'phase' is ${dv.getUint8(12)}, expected 0 or 1`,
      hint,
    );
  }
  return {
    type: dv.getUint8(5) as MessageType,
    sender: dv.getUint16(6, true),
    step: dv.getUint32(8, true),
    phase,
    ringStep: dv.getUint16(13, true),
    segment: dv.getUint16(15, true),
    chunk: dv.getUint32(17, true),
    count: dv.getUint32(21, true),
  };
}

const FIELDS: readonly (keyof ChunkHeader)[] = [
  'type',
  'sender',
  'step',
  'phase',
  'ringStep',
  'segment',
  'chunk',
  'count',
];

/**
 * Checks a received chunk against what the receiver expects and returns its payload (a view when the
 * payload is 4-aligned, else an aligned copy).
 * @throws DdpError E_PROTOCOL naming the first field that differs (with expected and got), a wrong
 *   magic or version, a truncated header, or a payload whose length is not `count` floats
 */
export function decodeChunk(frames: Frames, expected: ChunkHeader): Float32Array {
  const got = readChunkHeader(frames);
  for (const field of FIELDS) {
    if (got[field] !== expected[field]) {
      throw new DdpError(
        'E_PROTOCOL',
        `chunk header field '${field}' is ${got[field]}, expected ${expected[field]} (from rank ${got.sender}, step ${got.step})`,
        'ranks are out of step or a stray process sends to this inbox; restart the job with the same version on every host',
      );
    }
  }
  const payload = frames[1]!;
  if (payload.byteLength !== got.count * 4) {
    throw new DdpError(
      'E_PROTOCOL',
      `chunk payload is ${payload.byteLength} bytes, header says ${got.count} floats (${got.count * 4} bytes)`,
      'the message was truncated or the sender is broken',
    );
  }
  return float32FromFrame(payload, 'chunk payload');
}
