// The run key: one CURVE (X25519) key pair shared by the coordinator and every worker of a run.
// Every bound socket is a CURVE server with this secret key, every connecting socket a CURVE client
// with this key pair and this public key as the server's, and each process's ZAP handler admits
// only clients that prove they hold it: whoever lacks the key file cannot complete a handshake
// (docs/multi-node.md, "Security"). Written by `tfjs-ddp keygen`, read from --key-file or
// TFJS_DDP_KEY_FILE by `tfjs-ddp coordinator` and `tfjs-ddp worker`.
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { closeSync, constants, fsyncSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { DdpError } from '../errors';
import { z85Decode, z85Encode } from './z85';

/** A CURVE key pair as libzmq's options take it: 40-character Z85 strings (in the key file: public_key, secret_key). */
export interface RunKey {
  publicKey: string;
  secretKey: string;
}

/** What `kind` a key file says it is; anything else is refused. */
export const RUN_KEY_KIND = 'tfjs-ddp run key';
/** Largest key file read: a real one is about 200 bytes. */
const MAX_KEY_FILE_BYTES = 4096;

const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');

/** The X25519 public key of a 32-byte secret key (what libsodium's crypto_scalarmult_base computes). */
function publicOf(secret: Uint8Array): Uint8Array {
  const jwk = createPublicKey(createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64u(secret), x: '' }, format: 'jwk' })).export({ format: 'jwk' });
  return Buffer.from(jwk.x!, 'base64url');
}

/** A fresh key pair from the operating system's CSPRNG (node:crypto; no libzmq needed). */
export function generateRunKey(): RunKey {
  const { privateKey } = generateKeyPairSync('x25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return { publicKey: z85Encode(Buffer.from(jwk.x!, 'base64url')), secretKey: z85Encode(Buffer.from(jwk.d!, 'base64url')) };
}

/** The key file's text: one JSON object (snake_case keys), with a comment field saying what it is. */
export function formatRunKeyFile(key: RunKey): string {
  return `${JSON.stringify({ kind: RUN_KEY_KIND, mechanism: 'CURVE', comment: 'anyone who can read this file can join the run: keep it secret (mode 0600)', public_key: key.publicKey, secret_key: key.secretKey }, null, 2)}\n`;
}

/**
 * Parses and checks a key file's text: the kind, two Z85 keys of 32 bytes each, and a public key
 * that belongs to the secret one. The keys are public_key and secret_key; the publicKey and
 * secretKey of key files written before every document was snake_case are read too.
 * @throws DdpError E_CONFIG naming `path` and what is wrong (never quoting the secret)
 */
export function parseRunKeyFile(text: string, path: string): RunKey {
  const bad = (what: string) => new DdpError('E_CONFIG', `${path} is not a tfjs-ddp key file: ${what}`, 'create one with `tfjs-ddp keygen --out FILE` and give every process of the run the same file');
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('not a JSON object');
  const o = v as Record<string, unknown>;
  if (o['kind'] !== RUN_KEY_KIND) throw bad(`"kind" is not "${RUN_KEY_KIND}"`);
  const given: Partial<Record<'public_key' | 'secret_key', string>> = {};
  const keys: Partial<Record<'public_key' | 'secret_key', Uint8Array>> = {};
  for (const [field, old] of [['public_key', 'publicKey'], ['secret_key', 'secretKey']] as const) {
    if (o[field] !== undefined && o[old] !== undefined) throw bad(`it gives both "${field}" and "${old}"`);
    const s = o[field] ?? o[old];
    const raw = typeof s === 'string' && s.length === 40 ? z85Decode(s) : null;
    if (raw === null) throw bad(`"${field}" is not 40 characters of Z85`);
    keys[field] = raw;
    given[field] = s as string;
  }
  if (Buffer.compare(publicOf(keys.secret_key!), keys.public_key!) !== 0) throw bad('"public_key" does not belong to "secret_key"');
  return { publicKey: given.public_key!, secretKey: given.secret_key! };
}

/**
 * Reads a key file. Like ssh with a private key, it refuses a file that its group or others may read
 * or write: whoever can read it can join the run, and whoever can write it can swap the key.
 * @throws DdpError E_CONFIG when it cannot be read, has such a mode (naming the mode and `chmod 600`),
 *   or is not a key file
 */
export function readRunKeyFile(path: string): RunKey {
  let text: string;
  try {
    const st = statSync(path);
    if ((st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw new DdpError('E_CONFIG', `the key file ${path} has mode ${mode}: users other than its owner can read or change it, so it is refused`, `run \`chmod 600 ${path}\` (for a Kubernetes Secret volume: defaultMode: 0400, and no fsGroup)`);
    }
    if (st.size > MAX_KEY_FILE_BYTES) throw new DdpError('E_CONFIG', `${path} is larger than a key file (${MAX_KEY_FILE_BYTES} bytes at most)`, 'pass the file `tfjs-ddp keygen` wrote');
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof DdpError) throw e;
    throw new DdpError('E_CONFIG', `cannot read the key file ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`, 'check --key-file / TFJS_DDP_KEY_FILE, or create one with `tfjs-ddp keygen --out FILE`');
  }
  return parseRunKeyFile(text, path);
}

/**
 * Writes a new key file with mode 0600, created exclusively (an existing file is never replaced,
 * so a run's key cannot be swapped by accident), and fsynced.
 * @throws DdpError E_CONFIG when the file exists or cannot be created
 */
export function writeRunKeyFile(path: string, key: RunKey): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new DdpError('E_CONFIG', `cannot create the key file ${path} (${code})`, code === 'EEXIST' ? 'it exists already: remove it first, or choose another path' : 'check the directory exists and is writable');
  }
  try {
    writeSync(fd, formatRunKeyFile(key));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
