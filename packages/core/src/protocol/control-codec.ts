// Control-plane messages (coordinator ⇄ workers): frame 0 is a JSON object {v, type, ...}, optional
// binary frames follow (e.g. a Uint32Array of sample indices). decodeControl checks the version and
// the type before anyone reads the fields; checking the fields of each type is the receiver's job.
import { DdpError } from '../errors';
import type { Frames } from '../transport/transport';
import { bytesOf } from './typed-frames';
import { PROTOCOL_VERSION, checkProtocolVersion } from './version';

/** A control message: a `type` tag plus JSON-serialisable fields. */
export interface ControlMessage {
  type: string;
}

/** A decoded control message with its trailing binary frames. */
export interface DecodedControl<T extends ControlMessage> {
  msg: T & { v: number };
  binary: Uint8Array[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Frames for a control message: JSON `{v: PROTOCOL_VERSION, ...message}`, then `binary` as byte views
 * (not copied here: the transport copies on send).
 * @throws DdpError E_PROTOCOL when the message has no string `type` or cannot be serialised
 */
export function encodeControl<T extends ControlMessage>(
  message: T,
  binary: readonly ArrayBufferView[] = [],
): Frames {
  if (typeof message.type !== 'string' || message.type === '') {
    throw new DdpError(
      'E_PROTOCOL',
      `control message type is ${JSON.stringify(message.type)}, expected a non-empty string`,
      'this is a bug in the sender',
    );
  }
  let json: string;
  try {
    const { v: _ignored, ...fields } = message as ControlMessage & { v?: unknown };
    json = JSON.stringify({ v: PROTOCOL_VERSION, ...fields });
  } catch (e) {
    throw new DdpError(
      'E_PROTOCOL',
      `control message '${message.type}' is not JSON-serialisable: ${String(e)}`,
      'this is a bug in the sender',
      { cause: e },
    );
  }
  return [encoder.encode(json), ...binary.map(bytesOf)];
}

/**
 * Parses and checks a control message.
 * @param expectedTypes the types the receiver handles in its current state; omitted: any string type
 *   (the caller then switches on `msg.type` and must reject the ones it does not handle)
 * @throws DdpError E_PROTOCOL on no frames, invalid UTF-8 or JSON, a non-object, another protocol
 *   version ("run the same tfjs-ddp version on every host") or a type not in `expectedTypes`
 */
export function decodeControl<T extends ControlMessage = ControlMessage>(
  frames: Frames,
  expectedTypes?: readonly T['type'][],
): DecodedControl<T> {
  const [head, ...binary] = frames;
  if (head === undefined) {
    throw new DdpError(
      'E_PROTOCOL',
      'control message has no frames',
      'a process that is not part of this job is talking to this address',
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(head));
  } catch (e) {
    throw new DdpError(
      'E_PROTOCOL',
      `control message frame 0 (${head.byteLength} bytes) is not UTF-8 JSON`,
      'a process that is not part of this job is talking to this address',
      { cause: e },
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new DdpError(
      'E_PROTOCOL',
      `control message is ${JSON.stringify(parsed)}, expected an object`,
      'the sender is broken or runs another version',
    );
  }
  const msg = parsed as Record<string, unknown>;
  checkProtocolVersion(msg['v'], `control message '${String(msg['type'])}'`);
  const type = msg['type'];
  if (
    typeof type !== 'string' ||
    (expectedTypes !== undefined && !(expectedTypes as readonly string[]).includes(type))
  ) {
    const wanted = expectedTypes ? `one of ${expectedTypes.map((t) => `'${t}'`).join(', ')}` : 'a string';
    throw new DdpError(
      'E_PROTOCOL',
      `control message type is ${JSON.stringify(type)}, expected ${wanted}`,
      'the peers are out of step; restart the job',
    );
  }
  return { msg: msg as unknown as T & { v: number }, binary };
}
