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

/**
 * Largest frame 0 (the JSON part) a control message may have: 1 MiB, far above the largest real
 * one (a `hello` with its description, a few KB), so a hostile or broken peer cannot make the
 * decoder parse megabytes. Binary frames (model files, state) are not limited here.
 */
export const MAX_CONTROL_JSON_BYTES = 1 << 20;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Frames for a control message: JSON `{v: PROTOCOL_VERSION, ...message}`, then `binary` as byte views
 * (not copied here: the transport copies on send).
 * @throws DdpError E_PROTOCOL when the message has no string `type`, cannot be serialised or its JSON
 *   exceeds MAX_CONTROL_JSON_BYTES
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
  const head = encoder.encode(json);
  if (head.byteLength > MAX_CONTROL_JSON_BYTES) {
    throw new DdpError(
      'E_PROTOCOL',
      `control message '${message.type}' is ${head.byteLength} bytes of JSON, more than the ${MAX_CONTROL_JSON_BYTES} a receiver accepts`,
      'this is a bug in the sender: large data belongs in binary frames',
    );
  }
  return [head, ...binary.map(bytesOf)];
}

/**
 * Parses and checks a control message.
 * @param expectedTypes the types the receiver handles in its current state; omitted: any string type
 *   (the caller then switches on `msg.type` and must reject the ones it does not handle)
 * @throws DdpError E_PROTOCOL on no frames, a frame 0 over MAX_CONTROL_JSON_BYTES, invalid UTF-8 or JSON, a non-object, another protocol
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
  if (head.byteLength > MAX_CONTROL_JSON_BYTES) {
    throw new DdpError(
      'E_PROTOCOL',
      `control message frame 0 is ${head.byteLength} bytes, more than the ${MAX_CONTROL_JSON_BYTES} allowed`,
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
      `control message is ${describe(parsed)}, expected an object`,
      'the sender is broken or runs another version',
    );
  }
  const msg = parsed as Record<string, unknown>;
  checkProtocolVersion(msg['v'], `control message ${describe(msg['type'])}`);
  const type = msg['type'];
  if (
    typeof type !== 'string' ||
    (expectedTypes !== undefined && !(expectedTypes as readonly string[]).includes(type))
  ) {
    const wanted = expectedTypes ? `one of ${expectedTypes.map((t) => `'${t}'`).join(', ')}` : 'a string';
    throw new DdpError(
      'E_PROTOCOL',
      `control message type is ${describe(type)}, expected ${wanted}`,
      'the peers are out of step; restart the job',
    );
  }
  return { msg: msg as unknown as T & { v: number }, binary };
}

/**
 * A short, safe rendering of a value a peer sent, for error messages: never more than 64 characters,
 * and never JSON.stringify or String() on a structure (deep nesting overflows the stack; an object
 * with a `toString` field makes String() throw). Found by decoders.fuzz.spec.ts.
 */
function describe(v: unknown): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v === null || typeof v !== 'object') {
    const s = JSON.stringify(v) ?? 'undefined';
    return s.length > 64 ? `${s.slice(0, 61)}...` : s;
  }
  return 'an object';
}
