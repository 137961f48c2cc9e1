// Property-based fuzzing of every decoder that reads bytes from the network (fast-check): whatever
// the frames, a decoder returns a value or throws a DdpError E_PROTOCOL — no other exception, no
// hang (each call is timed), and no result larger than the bytes it was given (payloads are views or
// same-size copies; control JSON is capped at MAX_CONTROL_JSON_BYTES before it is parsed).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { digestChunks, readAuditReport, readAuditRequest, readGradientDigest } from '../audit/gradient-digest';
import { isDdpError } from '../errors';
import { MAX_CONTROL_JSON_BYTES, decodeControl, encodeControl } from './control-codec';
import { HEADER_BYTES, MessageType, decodeChunk, encodeChunk, readChunkHeader, type ChunkHeader } from './frame-codec';
import { float32FromFrame, uint32FromFrame } from './typed-frames';
import { PROTOCOL_VERSION } from './version';

const RUNS = 2000;
/** A decode of a few KB that takes longer than this is a hang for our purposes (the run's deadlines are seconds). */
const SLOW_MS = 250;

/** Runs `decode`; returns its value, or undefined when it threw a DdpError E_PROTOCOL. Anything else fails. */
function decodesOrRefuses<T>(decode: () => T): T | undefined {
  const t0 = performance.now();
  try {
    return decode();
  } catch (e) {
    if (!isDdpError(e, 'E_PROTOCOL')) throw new Error(`decoder threw something other than DdpError E_PROTOCOL: ${String(e)}`, { cause: e });
    return undefined;
  } finally {
    expect(performance.now() - t0).toBeLessThan(SLOW_MS);
  }
}

const bytes = fc.uint8Array({ maxLength: 96 });
/** Frames that are views into a larger buffer at any offset, as ZeroMQ hands them out. */
const offsetBytes = fc
  .tuple(fc.nat({ max: 7 }), bytes)
  .map(([pad, b]) => {
    const backing = new Uint8Array(pad + b.length);
    backing.set(b, pad);
    return backing.subarray(pad);
  });
const frames = fc.array(fc.oneof(bytes, offsetBytes), { maxLength: 5 });

const header: fc.Arbitrary<Omit<ChunkHeader, 'count'>> = fc.record({
  type: fc.constant(MessageType.RingChunk),
  sender: fc.nat({ max: 0xffff }),
  step: fc.nat(),
  phase: fc.constantFrom('reduce-scatter' as const, 'all-gather' as const),
  ringStep: fc.nat({ max: 0xffff }),
  segment: fc.nat({ max: 0xffff }),
  chunk: fc.nat(),
});

/** A valid chunk, then damaged: bytes flipped, frames truncated, extended, dropped or added. */
const damagedChunk = fc
  .tuple(
    header,
    fc.float32Array({ maxLength: 16 }),
    fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 4 }),
    fc.constantFrom('flip', 'truncate', 'extend', 'drop', 'add', 'none'),
    bytes,
  )
  .map(([h, payload, flips, how, extra]) => {
    const [head, body] = encodeChunk(h, payload).map((f) => Uint8Array.from(f)) as [Uint8Array, Uint8Array];
    for (const [i, v] of flips) head[i % head.length] = v;
    if (how === 'truncate') return [head.subarray(0, extra.length % HEADER_BYTES), body.subarray(0, extra.length)];
    if (how === 'extend') return [head, Uint8Array.from([...body, ...extra])];
    if (how === 'drop') return [head];
    if (how === 'add') return [head, body, extra];
    return [head, body];
  });

describe('decoders under fuzzing: a frame or a DdpError E_PROTOCOL, whatever the bytes', () => {
  it('readChunkHeader reads any frames without throwing anything but E_PROTOCOL', () => {
    fc.assert(
      fc.property(fc.oneof(frames, damagedChunk), (f) => {
        const h = decodesOrRefuses(() => readChunkHeader(f));
        if (h !== undefined) expect(f[0]!.byteLength).toBe(HEADER_BYTES);
      }),
      { numRuns: RUNS },
    );
  });

  it('decodeChunk returns a payload no larger than the frame it came in, holding exactly `count` floats', () => {
    fc.assert(
      fc.property(fc.oneof(frames, damagedChunk), header, (f, h) => {
        // Expect what the frame claims half of the time, so that decoding gets past the header.
        let expected: ChunkHeader = { ...h, count: 0 };
        try {
          expected = readChunkHeader(f);
        } catch {
          /* random expectations */
        }
        const payload = decodesOrRefuses(() => decodeChunk(f, expected));
        if (payload !== undefined) {
          expect(payload.length).toBe(expected.count);
          expect(payload.byteLength).toBe(f[1]!.byteLength);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('a chunk that decodes is exactly what was encoded', () => {
    fc.assert(
      fc.property(header, fc.float32Array({ maxLength: 32 }), (h, payload) => {
        const got = decodeChunk(encodeChunk(h, payload), { ...h, count: payload.length });
        expect(Array.from(got)).toEqual(Array.from(payload));
      }),
      { numRuns: 500 },
    );
  });

  it('float32FromFrame and uint32FromFrame return as many bytes as they were given, at any offset', () => {
    fc.assert(
      fc.property(fc.oneof(bytes, offsetBytes), (b) => {
        for (const read of [float32FromFrame, uint32FromFrame]) {
          const v = decodesOrRefuses(() => read(b, 'fuzz'));
          if (v !== undefined) expect(v.byteLength).toBe(b.byteLength);
          else expect(b.byteLength % 4).not.toBe(0);
        }
      }),
      { numRuns: RUNS },
    );
  });

  const utf8 = (s: string) => new TextEncoder().encode(s);
  const controlHead = fc.oneof(
    bytes,
    fc.json().map(utf8),
    fc.string({ unit: 'binary', maxLength: 64 }).map(utf8),
    // Objects that look like control messages: right or wrong version, any type, any fields.
    fc
      .record({ v: fc.oneof(fc.constant(PROTOCOL_VERSION), fc.jsonValue()), type: fc.oneof(fc.string(), fc.jsonValue()), x: fc.jsonValue() }, { requiredKeys: [] })
      .map((o) => utf8(JSON.stringify(o))),
    // Deep nesting: must neither overflow the stack nor take long.
    fc.nat({ max: 20_000 }).map((d) => utf8('['.repeat(d) + ']'.repeat(d))),
  );

  it('decodeControl returns an object with this version and a string type, or refuses', () => {
    fc.assert(
      fc.property(controlHead, fc.array(bytes, { maxLength: 3 }), fc.option(fc.array(fc.string(), { maxLength: 3 })), (head, binary, expectedTypes) => {
        const d = decodesOrRefuses(() => decodeControl([head, ...binary], expectedTypes ?? undefined));
        if (d !== undefined) {
          expect(d.msg.v).toBe(PROTOCOL_VERSION);
          expect(typeof d.msg.type).toBe('string');
          if (expectedTypes !== null) expect(expectedTypes).toContain(d.msg.type);
          expect(d.binary).toEqual(binary);
        }
      }),
      { numRuns: RUNS },
    );
    expect(decodesOrRefuses(() => decodeControl([]))).toBeUndefined();
  });

  it('decodeControl refuses what the fuzzer found: deep nesting, fields named toString', () => {
    const head = (s: string) => new TextEncoder().encode(s);
    for (const s of ['['.repeat(20_000) + ']'.repeat(20_000), '{"v":{"toString":1}}', `{"v":${PROTOCOL_VERSION},"type":{"toString":1}}`, `{"v":${PROTOCOL_VERSION},"type":${'['.repeat(9000)}${']'.repeat(9000)}}`]) {
      expect(() => decodeControl([head(s)])).toThrow(/^E_PROTOCOL: control message/);
    }
  });

  it('decodeControl refuses a JSON frame over the limit before parsing it', () => {
    const big = new TextEncoder().encode(JSON.stringify({ v: PROTOCOL_VERSION, type: 'join', pad: 'x'.repeat(MAX_CONTROL_JSON_BYTES) }));
    const t0 = performance.now();
    expect(() => decodeControl([big])).toThrow(/more than the 1048576 allowed/);
    expect(performance.now() - t0).toBeLessThan(SLOW_MS);
    expect(() => encodeControl({ type: 'join', pad: 'x'.repeat(MAX_CONTROL_JSON_BYTES) })).toThrow(/E_PROTOCOL/);
  });
  // The audit's fields (a step's request, a step-done's report) are read from JSON: any value, and
  // values shaped like the real ones with any field wrong.
  const number = fc.oneof(fc.double(), fc.integer(), fc.constant(null), fc.jsonValue());
  const chunks = (n: number) => fc.array(fc.oneof(fc.double(), fc.constant(null)), { minLength: digestChunks(n), maxLength: digestChunks(n) });
  const validDigest = fc.nat({ max: 80 }).chain((n) => fc.record({ n: fc.constant(n), sums: chunks(n), abs: chunks(n) }));
  const digestLike = fc.oneof(
    validDigest,
    fc.record({ n: fc.oneof(fc.nat({ max: 80 }), fc.jsonValue()), sums: fc.array(number, { maxLength: 70 }), abs: fc.array(number, { maxLength: 70 }) }, { requiredKeys: [] }),
  );
  const reportLike = fc.record({ own: fc.oneof(digestLike, fc.jsonValue()), checked: fc.oneof(fc.constant(null), fc.record({ rank: fc.oneof(fc.nat(), fc.jsonValue()), digest: fc.oneof(digestLike, fc.jsonValue()) }, { requiredKeys: [] }), fc.jsonValue()), self: fc.oneof(digestLike, fc.jsonValue()) }, { requiredKeys: [] });

  it('the audit readers return a checked value or refuse, whatever JSON they are given', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), digestLike, reportLike, fc.record({ rank: fc.oneof(fc.nat(), fc.jsonValue()), microBatch: fc.oneof(fc.nat(), fc.jsonValue()), self: fc.oneof(fc.constant(true), fc.jsonValue()) }, { requiredKeys: [] })), (v) => {
        const d = decodesOrRefuses(() => readGradientDigest(v, 'fuzz'));
        if (d !== undefined) {
          expect(d.sums).toHaveLength(digestChunks(d.n));
          expect(d.abs).toHaveLength(digestChunks(d.n));
          expect([...d.sums, ...d.abs].every((x) => typeof x === 'number')).toBe(true);
        }
        const q = decodesOrRefuses(() => readAuditRequest(v));
        if (q !== undefined) expect(Number.isInteger(q.rank) && q.microBatch >= 1 && (q.self === undefined || q.self)).toBe(true);
        const r = decodesOrRefuses(() => readAuditReport(v, 'fuzz'));
        if (r !== undefined) expect(r.checked === null || Number.isInteger(r.checked.rank)).toBe(true);
        if (r?.self !== undefined) expect(r.self.sums).toHaveLength(digestChunks(r.self.n));
      }),
      { numRuns: RUNS },
    );
  });
});
