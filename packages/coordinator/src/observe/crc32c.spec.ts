import { describe, expect, it } from 'vitest';
import { crc32c, maskCrc32c } from './crc32c';

const bytes = (f: (i: number) => number) => Uint8Array.from({ length: 32 }, (_, i) => f(i));

describe('crc32c', () => {
  it('matches the test vectors of RFC 3720 (B.4) and the check value of "123456789"', () => {
    expect(crc32c(bytes(() => 0x00))).toBe(0x8a9136aa);
    expect(crc32c(bytes(() => 0xff))).toBe(0x62a8ab43);
    expect(crc32c(bytes((i) => i))).toBe(0x46dd794e);
    expect(crc32c(bytes((i) => 31 - i))).toBe(0x113fdb5c);
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
  });

  it('is the Castagnoli CRC, not the IEEE CRC-32 of zlib (0xCBF43926 for "123456789")', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).not.toBe(0xcbf43926);
    expect(crc32c(new Uint8Array())).toBe(0);
  });

  it('masks as TFRecord does: rotate right by 15 bits, add 0xa282ead8, modulo 2^32', () => {
    expect(maskCrc32c(0)).toBe(0xa282ead8);
    // 0x00008000 rotated right by 15 is 1; 0x00000001 rotated right by 15 is 0x00020000.
    expect(maskCrc32c(0x8000)).toBe(0xa282ead9);
    expect(maskCrc32c(1)).toBe(0xa284ead8);
    // Wraps: 0xffffffff rotated is itself, + 0xa282ead8 = 0x1a282ead7 → 0xa282ead7.
    expect(maskCrc32c(0xffffffff)).toBe(0xa282ead7);
  });
});
