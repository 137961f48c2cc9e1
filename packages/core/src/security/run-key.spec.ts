import { mkdtempSync, readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isDdpError } from '../errors';
import { decideSecurity, isLoopbackAddress } from './listen-policy';
import { RUN_KEY_KIND, formatRunKeyFile, generateRunKey, parseRunKeyFile, readRunKeyFile, writeRunKeyFile } from './run-key';
import { z85Decode, z85Encode } from './z85';

const Z85_KEY = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;

describe('z85', () => {
  it('encodes the RFC 32 test vector', () => {
    const bytes = Uint8Array.from([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b]);
    expect(z85Encode(bytes)).toBe('HelloWorld');
    expect(Array.from(z85Decode('HelloWorld')!)).toEqual(Array.from(bytes));
  });

  it('round-trips any bytes and refuses what is not Z85', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }).filter((b) => b.length % 4 === 0), (b) => {
      expect(Array.from(z85Decode(z85Encode(b))!)).toEqual(Array.from(b));
    }));
    expect(z85Decode('abcd')).toBeNull();
    expect(z85Decode('abc d')).toBeNull();
    expect(z85Decode('#####')).toBeNull(); // 85⁵−1 > 2³²−1
  });
});

describe('run key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tfjs-ddp-key-'));

  it('generates two 40-character Z85 keys, the public one belonging to the secret one', () => {
    const k = generateRunKey();
    expect(k.publicKey).toMatch(Z85_KEY);
    expect(k.secretKey).toMatch(Z85_KEY);
    expect(k.publicKey).not.toBe(k.secretKey);
    expect(parseRunKeyFile(formatRunKeyFile(k), 'k')).toEqual(k);
  });

  it('writes the key file with mode 0600 and never replaces an existing one', () => {
    const path = join(dir, 'run.key');
    const k = generateRunKey();
    writeRunKeyFile(path, k);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ kind: RUN_KEY_KIND, mechanism: 'CURVE', comment: expect.stringMatching(/keep it secret/), public_key: k.publicKey, secret_key: k.secretKey });
    expect(readRunKeyFile(path)).toEqual(k);
    expect(() => writeRunKeyFile(path, generateRunKey())).toThrow(/E_CONFIG: cannot create the key file .*run\.key \(EEXIST\); it exists already/);
    expect(readRunKeyFile(path)).toEqual(k);
  });

  it('reads the publicKey and secretKey of a key file written before keys were snake_case, but not both spellings', () => {
    const k = generateRunKey();
    const old = JSON.stringify({ kind: RUN_KEY_KIND, mechanism: 'CURVE', publicKey: k.publicKey, secretKey: k.secretKey });
    expect(parseRunKeyFile(old, 'k')).toEqual(k);
    const both = JSON.stringify({ kind: RUN_KEY_KIND, public_key: k.publicKey, publicKey: k.publicKey, secret_key: k.secretKey });
    expect(() => parseRunKeyFile(both, '/k')).toThrow(/E_CONFIG: \/k is not a tfjs-ddp key file: it gives both "public_key" and "publicKey"/);
  });

  it('refuses a key file its group or others may read or write, as ssh does, naming the mode and chmod 600', () => {
    const path = join(dir, 'open.key');
    writeFileSync(path, formatRunKeyFile(generateRunKey()));
    for (const mode of [0o644, 0o640, 0o620, 0o604, 0o602]) {
      chmodSync(path, mode);
      const shown = mode.toString(8).padStart(4, '0');
      expect(() => readRunKeyFile(path)).toThrow(new RegExp(`^E_CONFIG: the key file .*open\\.key has mode ${shown}: users other than its owner can read or change it, so it is refused; run \`chmod 600 .*open\\.key\``));
    }
    chmodSync(path, 0o400);
    expect(readRunKeyFile(path).publicKey).toMatch(Z85_KEY);
  });

  it('refuses a key file whose public key is not the secret key\'s, without quoting the secret', () => {
    const a = generateRunKey();
    const b = generateRunKey();
    const text = formatRunKeyFile({ publicKey: b.publicKey, secretKey: a.secretKey });
    expect(() => parseRunKeyFile(text, '/k')).toThrow(/E_CONFIG: \/k is not a tfjs-ddp key file: "public_key" does not belong to "secret_key"; create one with `tfjs-ddp keygen/);
    try {
      parseRunKeyFile(text, '/k');
    } catch (e) {
      expect(String(e)).not.toContain(a.secretKey);
    }
  });

  it('names a missing key file', () => {
    expect(() => readRunKeyFile(join(dir, 'nope'))).toThrow(/E_CONFIG: cannot read the key file .*nope \(ENOENT\); check --key-file \/ TFJS_DDP_KEY_FILE/);
  });

  it('parses any text to a key or an E_CONFIG (fuzzed)', () => {
    const k = generateRunKey();
    const pub = fc.oneof(fc.constant(k.publicKey), fc.string({ minLength: 40, maxLength: 40 }), fc.jsonValue());
    const sec = fc.oneof(fc.constant(k.secretKey), fc.string({ minLength: 40, maxLength: 40 }), fc.jsonValue());
    // Today's keys, and those of key files written before (publicKey, secretKey).
    const near = fc.record({ kind: fc.oneof(fc.constant(RUN_KEY_KIND), fc.jsonValue()), public_key: pub, secret_key: sec, publicKey: pub, secretKey: sec }, { requiredKeys: [] }).map((o) => JSON.stringify(o));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), near), (text) => {
        try {
          expect(parseRunKeyFile(text, 'f')).toEqual(k);
        } catch (e) {
          if (!isDdpError(e, 'E_CONFIG')) throw e;
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('listen policy', () => {
  it('counts ipc, inproc and tcp on 127.0.0.0/8, ::1 and localhost as loopback, and nothing else', () => {
    for (const a of ['ipc:///tmp/x', 'inproc://x', 'tcp://127.0.0.1:5', 'tcp://127.3.4.5:0', 'tcp://[::1]:7', 'tcp://localhost:*']) expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ['tcp://0.0.0.0:5', 'tcp://*:5', 'tcp://10.0.0.1:29500', 'tcp://[::]:1', 'tcp://host:1', 'tcp://eth0:1', 'tcp://127.0.0.1.evil:1', 'udp://127.0.0.1:1']) expect(isLoopbackAddress(a), a).toBe(false);
  });

  it('refuses a non-loopback address without a key, naming --key-file and --insecure', () => {
    expect(() => decideSecurity(['tcp://0.0.0.0:29500'], null, false)).toThrow(/^E_CONFIG: refusing to listen on tcp:\/\/0\.0\.0\.0:29500 without a key.*--key-file FILE \(or set TFJS_DDP_KEY_FILE\).*--insecure/);
    expect(decideSecurity(['tcp://0.0.0.0:29500'], null, true)).toEqual({ kind: 'none', insecure: true });
    expect(decideSecurity(['tcp://127.0.0.1:29500', 'ipc:///x'], null, false)).toEqual({ kind: 'none', insecure: false });
    const key = generateRunKey();
    expect(decideSecurity(['tcp://127.0.0.1:1'], key, false)).toEqual({ kind: 'curve', key });
    expect(() => decideSecurity([], key, true)).toThrow(/E_CONFIG: both a key file and --insecure/);
  });
});
