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
 * decoder parse megabytes.
 */
export const MAX_CONTROL_JSON_BYTES = 1 << 20;

/**
 * Largest binary frame on the wire: a longer part (model files, a training state: the model's size,
 * which the sockets cannot know when they are made) travels as several frames of at most this, and
 * frame 0 then says how many (`split`). So every control frame fits MAX_CONTROL_FRAME_BYTES, the
 * ZMQ_MAXMSGSIZE of control sockets.
 */
export const MAX_CONTROL_BINARY_FRAME_BYTES = 1 << 20;

/** The largest frame a control socket accepts (its ZMQ_MAXMSGSIZE): a larger one drops the peer. */
export const MAX_CONTROL_FRAME_BYTES = Math.max(MAX_CONTROL_JSON_BYTES, MAX_CONTROL_BINARY_FRAME_BYTES);

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
  const parts = binary.map(bytesOf);
  const split = parts.map((p) => Math.max(1, Math.ceil(p.byteLength / MAX_CONTROL_BINARY_FRAME_BYTES)));
  let json: string;
  try {
    const { v: _ignored, split: _split, ...fields } = message as ControlMessage & { v?: unknown; split?: unknown };
    json = JSON.stringify({ v: PROTOCOL_VERSION, ...fields, ...(split.some((n) => n > 1) ? { split } : {}) });
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
  const frames: Uint8Array[] = [head];
  for (const p of parts) {
    if (p.byteLength <= MAX_CONTROL_BINARY_FRAME_BYTES) frames.push(p);
    else for (let at = 0; at < p.byteLength; at += MAX_CONTROL_BINARY_FRAME_BYTES) frames.push(p.subarray(at, at + MAX_CONTROL_BINARY_FRAME_BYTES));
  }
  return frames;
}

/** The binary parts of a message whose frame 0 says how they were split (encodeControl), joined again. */
function joinSplit(split: unknown, frames: Uint8Array[], type: string): Uint8Array[] {
  const count = (n: unknown) => typeof n === 'number' && Number.isInteger(n) && n >= 1;
  if (!Array.isArray(split) || !split.every(count) || split.reduce((a: number, n: number) => a + n, 0) !== frames.length) {
    throw new DdpError('E_PROTOCOL', `control message '${type}' has ${frames.length} binary frames, which its "split" ${describe(split)} does not describe`, 'the sender is broken or runs another version');
  }
  const out: Uint8Array[] = [];
  let at = 0;
  for (const n of split as number[]) {
    const pieces = frames.slice(at, at + n);
    at += n;
    if (n === 1) {
      out.push(pieces[0]!);
      continue;
    }
    const whole = new Uint8Array(pieces.reduce((a, p) => a + p.byteLength, 0));
    pieces.reduce((off, p) => (whole.set(p, off), off + p.byteLength), 0);
    out.push(whole);
  }
  return out;
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
  if (msg['split'] === undefined) return { msg: msg as unknown as T & { v: number }, binary };
  const { split, ...rest } = msg;
  return { msg: rest as unknown as T & { v: number }, binary: joinSplit(split, binary, type) };
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
