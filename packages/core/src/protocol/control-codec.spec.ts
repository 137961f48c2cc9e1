import { describe, expect, it } from 'vitest';
import { isDdpError } from '../errors';
import { decodeControl, encodeControl, MAX_CONTROL_BINARY_FRAME_BYTES, MAX_CONTROL_FRAME_BYTES } from './control-codec';
import { uint32FromFrame } from './typed-frames';
import { PROTOCOL_VERSION } from './version';

type Msg = { type: 'step'; step: number } | { type: 'stop'; reason: string };

describe('control message codec', () => {
  it('sends a binary part larger than a control frame may be as several frames, and joins them again', () => {
    const big = new Uint8Array(2.5 * MAX_CONTROL_BINARY_FRAME_BYTES);
    for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
    const small = Uint8Array.from([1, 2, 3]);
    const frames = encodeControl({ type: 'stop', reason: 'x' }, [small, big, small]);
    expect(frames.length).toBe(1 + 1 + 3 + 1);
    for (const f of frames) expect(f.byteLength).toBeLessThanOrEqual(MAX_CONTROL_FRAME_BYTES);
    expect(JSON.parse(new TextDecoder().decode(frames[0]))).toMatchObject({ split: [1, 3, 1] });
    const { msg, binary } = decodeControl<Msg>(frames);
    expect(msg).toEqual({ v: PROTOCOL_VERSION, type: 'stop', reason: 'x' });
    expect(binary.map((b) => b.byteLength)).toEqual([3, big.length, 3]);
    expect(Buffer.compare(Buffer.from(binary[1]!), Buffer.from(big))).toBe(0);
    // Parts that fit are sent as they are, with no "split".
    expect(JSON.parse(new TextDecoder().decode(encodeControl({ type: 'stop', reason: 'x' }, [small])[0]))).not.toHaveProperty('split');
  });

  it('refuses a "split" that does not describe the frames that came', () => {
    const head = (split: unknown) => new TextEncoder().encode(JSON.stringify({ v: PROTOCOL_VERSION, type: 'stop', reason: 'x', split }));
    const f = new Uint8Array(4);
    for (const split of [[3], [1, 1, 1], [0, 2], 'x', [1.5, 0.5], null]) {
      expect(() => decodeControl([head(split), f, f]), JSON.stringify(split)).toThrow(/E_PROTOCOL: control message 'stop' has 2 binary frames, which its "split" .* does not describe/);
    }
  });

  it('round-trips the JSON fields, stamps the version and carries binary frames', () => {
    const indices = Uint32Array.from([5, 1, 70_000]);
    const frames = encodeControl({ type: 'step', step: 4 }, [indices]);
    expect(JSON.parse(new TextDecoder().decode(frames[0]))).toEqual({
      v: PROTOCOL_VERSION,
      type: 'step',
      step: 4,
    });
    const { msg, binary } = decodeControl<Msg>(frames, ['step', 'stop']);
    expect(msg).toEqual({ v: PROTOCOL_VERSION, type: 'step', step: 4 });
    expect(Array.from(uint32FromFrame(binary[0]!, 'indices'))).toEqual([5, 1, 70_000]);
  });

  it('reads Uint32 values from a frame that is not 4-aligned', () => {
    const raw = new Uint8Array(9).subarray(1);
    raw.set(new Uint8Array(Uint32Array.from([1, 2]).buffer));
    expect(Array.from(uint32FromFrame(raw, 'indices'))).toEqual([1, 2]);
  });

  it('rejects another protocol version, naming both and the fix', () => {
    const frames = [new TextEncoder().encode(JSON.stringify({ v: 99, type: 'step' }))];
    expect(() => decodeControl(frames, ['step'])).toThrow(
      new RegExp(`version 99.*version ${PROTOCOL_VERSION}; run the same tfjs-ddp version on every host`),
    );
  });

  it('rejects a type the receiver does not expect, listing the expected ones', () => {
    const frames = encodeControl({ type: 'stop', reason: 'x' });
    expect(() => decodeControl<Msg>(frames, ['step'])).toThrow(/type is "stop", expected one of 'step'/);
  });

  it('accepts any string type when no expected types are given, but not a missing type', () => {
    expect(decodeControl<Msg>(encodeControl({ type: 'stop', reason: 'x' })).msg.type).toBe('stop');
    const untyped = [new TextEncoder().encode(JSON.stringify({ v: PROTOCOL_VERSION }))];
    expect(() => decodeControl(untyped)).toThrow(/type is undefined, expected a string/);
  });

  it.each([
    ['no frames', []],
    ['not JSON', [new TextEncoder().encode('{oops')]],
    ['not an object', [new TextEncoder().encode('[1]')]],
    ['invalid UTF-8', [new Uint8Array([0xff, 0xfe])]],
  ])('rejects %s with E_PROTOCOL', (_what, frames) => {
    let err: unknown;
    try {
      decodeControl(frames, ['step']);
    } catch (e) {
      err = e;
    }
    expect(isDdpError(err, 'E_PROTOCOL')).toBe(true);
  });

  it('rejects a frame of 32-bit values whose length is not a multiple of 4', () => {
    expect(() => uint32FromFrame(new Uint8Array(6), 'indices')).toThrow(/indices is 6 bytes/);
  });
});
