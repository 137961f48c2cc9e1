// keygen, --key-file / TFJS_DDP_KEY_FILE and --insecure at the command line: what is written, what is
// refused (exit 2 before any work, no run directory), what is warned about.
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nonSnakeCaseKeys } from '@tfjs-ddp/core';
import { describe, expect, it } from 'vitest';
import { resolveSecurity } from './security';
import { run } from './test-io';

const dir = mkdtempSync(join(tmpdir(), 'tfjs-ddp-cli-key-'));

describe('tfjs-ddp keygen', () => {
  it('writes a JSON key file with two 40-character Z85 keys and mode 0600, and says how to use it', async () => {
    const out = join(dir, 'run.key');
    const r = await run(['keygen', '--out', out]);
    expect(r.code).toBe(0);
    const file = JSON.parse(readFileSync(out, 'utf8')) as Record<string, string>;
    expect(file).toMatchObject({ kind: 'tfjs-ddp run key', mechanism: 'CURVE' });
    expect(nonSnakeCaseKeys(file)).toEqual([]);
    for (const k of ['public_key', 'secret_key']) expect(file[k]).toMatch(/^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(r.stdout).toContain(`wrote ${out} (mode 0600; public key ${file['public_key']}); pass --key-file ${out} (or TFJS_DDP_KEY_FILE=${out})`);
    expect(r.stdout).not.toContain(file['secret_key']);
  });

  it('refuses to replace an existing key file, and needs --out', async () => {
    const out = join(dir, 'twice.key');
    expect((await run(['keygen', '--out', out])).code).toBe(0);
    const before = readFileSync(out, 'utf8');
    const again = await run(['keygen', '--out', out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/E_CONFIG: cannot create the key file .*twice\.key \(EEXIST\)/);
    expect(readFileSync(out, 'utf8')).toBe(before);
    expect((await run(['keygen'])).stderr).toMatch(/E_USAGE: --out FILE is required/);
  });
});

describe('tfjs-ddp coordinator / worker: the key or --insecure', () => {
  it('refuses to listen on a non-loopback address without a key: exit 2, a message naming --key-file and --insecure, no run directory', async () => {
    const runDir = join(dir, 'refused');
    const r = await run(['coordinator', '--listen', 'tcp://0.0.0.0:29555', '--world-size', '2', '--run-dir', runDir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^tfjs-ddp: E_CONFIG: refusing to listen on tcp:\/\/0\.0\.0\.0:29555 without a key: other hosts could join the run or send it frames; create a key with `tfjs-ddp keygen --out FILE` and pass --key-file FILE \(or set TFJS_DDP_KEY_FILE\) on the coordinator and every worker, or pass --insecure on a network you trust\n$/);
    expect(existsSync(runDir)).toBe(false);
  });

  it('refuses a worker joining a non-loopback coordinator without a key', async () => {
    const r = await run(['worker', '--join', 'tcp://10.1.2.3:29500'], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/E_CONFIG: refusing to join tcp:\/\/10\.1\.2\.3:29500 without a key.*--key-file FILE.*--insecure/);
    const viaEnv = await run(['worker'], { MASTER_ADDR: 'node7', MASTER_PORT: '29500' });
    expect(viaEnv.stderr).toMatch(/refusing to join tcp:\/\/node7:29500 without a key/);
  });

  it('takes the key from --key-file or TFJS_DDP_KEY_FILE (the flag first), and names a missing file', async () => {
    const key = join(dir, 'env.key');
    await run(['keygen', '--out', key]);
    expect(resolveSecurity({}, { TFJS_DDP_KEY_FILE: key }, ['tcp://0.0.0.0:1'])).toMatchObject({ mode: 'curve', warnings: [] });
    expect(() => resolveSecurity({ 'key-file': join(dir, 'missing') }, { TFJS_DDP_KEY_FILE: key }, ['tcp://0.0.0.0:1'])).toThrow(/cannot read the key file .*missing \(ENOENT\)/);
    expect(resolveSecurity({}, { TFJS_DDP_KEY_FILE: '' }, ['tcp://127.0.0.1:1'])).toMatchObject({ mode: 'loopback', curve: undefined });
    const r = await run(['coordinator', '--listen', 'tcp://0.0.0.0:29555', '--world-size', '1', '--key-file', key, '--insecure']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/E_CONFIG: both a key file and --insecure were given/);
  });

  it('--insecure is explicit and warns, naming the address', () => {
    const s = resolveSecurity({ insecure: true }, {}, ['tcp://0.0.0.0:29500']);
    expect(s).toMatchObject({ mode: 'insecure', curve: undefined });
    expect(s.warnings).toEqual(['--insecure: tcp://0.0.0.0:29500 without CURVE: anyone who can reach these ports can join this run, read its traffic or send it frames']);
    expect(resolveSecurity({}, {}, ['tcp://127.0.0.1:29500', 'ipc:///tmp/x']).mode).toBe('loopback');
  });
});
