// Typed arrays ⇄ message frames. Frames arrive as byte arrays whose offset may not be a multiple of 4
// (ZeroMQ hands out views into its receive buffers), so 32-bit views are copied when misaligned.
// Used by frame-codec.ts (ring payloads) and by control-message senders (e.g. sample indices).
import { DdpError } from '../errors';

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Throws on big-endian hosts: frames carry little-endian 32-bit values and are viewed without swapping.
 * @throws DdpError E_INTERNAL on a big-endian host
 */
export function assertLittleEndianHost(): void {
  if (!LITTLE_ENDIAN) {
    throw new DdpError(
      'E_INTERNAL',
      'this host is big-endian; tfjs-ddp frames are little-endian',
      'run on x86-64 or arm64',
    );
  }
}

/** A byte view of `view`'s memory (no copy), for use as a frame. */
export function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

function view32<T extends Float32Array | Uint32Array>(
  frame: Uint8Array,
  what: string,
  make: (buf: ArrayBufferLike, offset: number, length: number) => T,
  alloc: (length: number) => T,
): T {
  assertLittleEndianHost();
  if (frame.byteLength % 4 !== 0) {
    throw new DdpError(
      'E_PROTOCOL',
      `${what} is ${frame.byteLength} bytes, not a multiple of 4`,
      'the sender is broken or runs another version',
    );
  }
  const n = frame.byteLength / 4;
  if (frame.byteOffset % 4 === 0) return make(frame.buffer, frame.byteOffset, n);
  const out = alloc(n);
  new Uint8Array(out.buffer).set(frame);
  return out;
}

/**
 * Float32 values of a frame: a view when 4-aligned, else an aligned copy.
 * @throws DdpError E_PROTOCOL when the length is not a multiple of 4
 */
export function float32FromFrame(frame: Uint8Array, what: string): Float32Array {
  return view32(
    frame,
    what,
    (b, o, n) => new Float32Array(b, o, n),
    (n) => new Float32Array(n),
  );
}

/**
 * Uint32 values of a frame: a view when 4-aligned, else an aligned copy.
 * @throws DdpError E_PROTOCOL when the length is not a multiple of 4
 */
export function uint32FromFrame(frame: Uint8Array, what: string): Uint32Array {
  return view32(
    frame,
    what,
    (b, o, n) => new Uint32Array(b, o, n),
    (n) => new Uint32Array(n),
  );
}
