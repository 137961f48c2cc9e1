// The wire protocol version shared by data frames (frame-codec.ts) and control messages
// (control-codec.ts). Bump it on any incompatible change to either; peers refuse other versions.
import { DdpError } from '../errors';

/** Version every frame and control message carries; a peer with another version is refused. */
export const PROTOCOL_VERSION = 2; // 2: chunk boundaries by segment size; step micro-batch, abort slot, rank replacement

/**
 * Throws unless `got` is this build's protocol version.
 * @param what which message carried the version, for the error message
 * @throws DdpError E_PROTOCOL naming both versions
 */
export function checkProtocolVersion(got: unknown, what: string): void {
  if (got !== PROTOCOL_VERSION) {
    throw new DdpError(
      'E_PROTOCOL',
      `${what} has protocol version ${typeof got === 'object' && got !== null ? 'an object' : String(got)}, this process speaks version ${PROTOCOL_VERSION}`,
      'run the same tfjs-ddp version on every host',
    );
  }
}
