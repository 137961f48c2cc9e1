// Z85 (ZeroMQ RFC 32): the printable encoding of CURVE keys, 5 characters per 4 bytes. Used by
// run-key.ts to turn X25519 keys into the 40-character strings libzmq's CURVE options take.
import { DdpError } from '../errors';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';
const VALUE = new Map([...ALPHABET].map((c, i) => [c, i]));

/** Z85 text of `bytes` (length a multiple of 4). @throws DdpError E_INTERNAL otherwise */
export function z85Encode(bytes: Uint8Array): string {
  if (bytes.length % 4 !== 0) throw new DdpError('E_INTERNAL', `z85Encode: ${bytes.length} bytes is not a multiple of 4`);
  let out = '';
  for (let i = 0; i < bytes.length; i += 4) {
    let v = ((bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!) >>> 0;
    let block = '';
    for (let j = 0; j < 5; j++) {
      block = ALPHABET[v % 85]! + block;
      v = Math.floor(v / 85);
    }
    out += block;
  }
  return out;
}

/** Bytes of Z85 `text`, or null when it is not Z85 (length not a multiple of 5, a foreign character, a block over 2³²−1). */
export function z85Decode(text: string): Uint8Array | null {
  if (text.length % 5 !== 0) return null;
  const out = new Uint8Array((text.length / 5) * 4);
  for (let i = 0; i < text.length; i += 5) {
    let v = 0;
    for (let j = 0; j < 5; j++) {
      const d = VALUE.get(text[i + j]!);
      if (d === undefined) return null;
      v = v * 85 + d;
    }
    if (v > 0xffffffff) return null;
    const o = (i / 5) * 4;
    out[o] = v >>> 24;
    out[o + 1] = (v >>> 16) & 0xff;
    out[o + 2] = (v >>> 8) & 0xff;
    out[o + 3] = v & 0xff;
  }
  return out;
}
