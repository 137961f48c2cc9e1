import { describe, expect, it } from 'vitest';
import { DdpError, isDdpError } from '../errors';
import {
  HEADER_BYTES,
  MessageType,
  PROTOCOL_VERSION,
  decodeChunk,
  encodeChunk,
  readChunkHeader,
  type ChunkHeader,
} from './frame-codec';

const header: Omit<ChunkHeader, 'count'> = {
  type: MessageType.RingChunk,
  sender: 3,
  step: 70_000,
  phase: 'all-gather',
  ringStep: 2,
  segment: 5,
  chunk: 9,
};
const payload = Float32Array.from([1.5, -2, 3.25, 1e-7]);
const expected: ChunkHeader = { ...header, count: payload.length };

function protocolError(f: () => unknown): DdpError {
  try {
    f();
  } catch (e) {
    if (isDdpError(e, 'E_PROTOCOL')) return e;
    throw e;
  }
  throw new Error('expected E_PROTOCOL');
}

describe('chunk frame codec', () => {
  it('round-trips every header field and the payload', () => {
    const frames = encodeChunk(header, payload);
    expect(frames[0]!.byteLength).toBe(HEADER_BYTES);
    expect(readChunkHeader(frames)).toEqual(expected);
    expect(Array.from(decodeChunk(frames, expected))).toEqual(Array.from(payload));
  });

  it('starts with the magic TDDP and the protocol version', () => {
    const [head] = encodeChunk(header, payload);
    expect(String.fromCharCode(...head!.subarray(0, 4))).toBe('TDDP');
    expect(head![4]).toBe(PROTOCOL_VERSION);
  });

  it.each([
    ['type', 2],
    ['sender', 2],
    ['step', 69_999],
    ['phase', 'reduce-scatter'],
    ['ringStep', 1],
    ['segment', 4],
    ['chunk', 10],
    ['count', 5],
  ] as const)('rejects a frame whose %s differs, naming the field, expected and got', (field, want) => {
    const e = protocolError(() => decodeChunk(encodeChunk(header, payload), { ...expected, [field]: want }));
    expect(e.message).toContain(`'${field}' is ${String(expected[field])}, expected ${String(want)}`);
  });

  it('rejects a truncated header and a truncated payload', () => {
    const [head, body] = encodeChunk(header, payload);
    expect(protocolError(() => decodeChunk([head!.subarray(0, 20), body!], expected)).message).toContain(
      'truncated',
    );
    expect(protocolError(() => decodeChunk([head!, body!.subarray(0, 12)], expected)).message).toContain(
      '12 bytes',
    );
    expect(protocolError(() => decodeChunk([head!], expected)).message).toContain('1 frames');
  });

  it('rejects a wrong magic', () => {
    const [head, body] = encodeChunk(header, payload);
    const bad = new Uint8Array(head!);
    bad[0] = 'X'.charCodeAt(0);
    expect(protocolError(() => decodeChunk([bad, body!], expected)).message).toContain('"XDDP"');
  });

  it('rejects another protocol version, naming both and the fix', () => {
    const [head, body] = encodeChunk(header, payload);
    const bad = new Uint8Array(head!);
    bad[4] = PROTOCOL_VERSION + 1;
    const e = protocolError(() => decodeChunk([bad, body!], expected));
    expect(e.message).toContain(`version ${PROTOCOL_VERSION + 1}`);
    expect(e.message).toContain(`version ${PROTOCOL_VERSION}`);
    expect(e.message).toContain('run the same tfjs-ddp version on every host');
  });

  it('copies a payload that is not 4-aligned into an aligned Float32Array', () => {
    const [head, body] = encodeChunk(header, payload);
    const shifted = new Uint8Array(body!.byteLength + 1).subarray(1);
    shifted.set(body!);
    const out = decodeChunk([head!, shifted], expected);
    expect(out.byteOffset % 4).toBe(0);
    expect(Array.from(out)).toEqual(Array.from(payload));
  });

  it('refuses to encode a header field that does not fit its width', () => {
    expect(protocolError(() => encodeChunk({ ...header, segment: 70_000 }, payload)).message).toContain(
      "'segment'",
    );
    expect(protocolError(() => encodeChunk({ ...header, step: -1 }, payload)).message).toContain("'step'");
  });

  it('encodes an empty payload', () => {
    const frames = encodeChunk(header, new Float32Array(0));
    expect(decodeChunk(frames, { ...expected, count: 0 }).length).toBe(0);
  });
});
