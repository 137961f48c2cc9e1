// SHA-256 of dataset bytes and the E_DATA_CHECKSUM error. Hashing the 47 MB training images takes
// about 100 ms, cheap next to gunzip, so the loader checks the canonical files on every load.

import { createHash } from 'node:crypto';
import { DdpError } from '@tfjs-ddp/core';

/** Lower-case hex SHA-256 of `bytes`. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Checks the SHA-256 of `bytes` (decompressed content read from `path`).
 * @throws DdpError E_DATA_CHECKSUM naming the path, the observed and the expected hash
 */
export function checkSha256(bytes: Uint8Array, expected: string, path: string, hint: string): void {
  const actual = sha256Hex(bytes);
  if (actual !== expected.toLowerCase()) {
    throw new DdpError(
      'E_DATA_CHECKSUM',
      `${path} has sha256 ${short(actual)}, expected ${short(expected)} (of the ${bytes.length} decompressed bytes)`,
      hint,
    );
  }
}

function short(hash: string): string {
  return `${hash.slice(0, 12)}…`;
}
