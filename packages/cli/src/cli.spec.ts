import { readFileSync } from 'node:fs';
import { DdpError } from '@tfjs-ddp/core';
import { describe, expect, it } from 'vitest';
import { defineCommand } from './command';
import { COMMANDS } from './commands';
import { run } from './test-io';

const version = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** A command that throws what it is given, to check how the CLI reports failures. */
function throwing(error: unknown) {
  return defineCommand({
    name: 'boom',
    summary: 'Throws',
    description: 'Throws.',
    options: {},
    run: () => Promise.reject(error),
  });
}

describe('tfjs-ddp', () => {
  it('lists every command with its one-line summary for --help, -h and no arguments', async () => {
    for (const argv of [['--help'], ['-h'], []]) {
      const r = await run(argv);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('Usage: tfjs-ddp <command> [options]');
      const esc = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  ${c.name} +${esc(c.summary)}$`, 'm'));
    }
  });

  it('prints the version from packages/cli/package.json', async () => {
    expect(await run(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    expect((await run(['-V'])).stdout).toBe(`${version}\n`);
  });

  it('shows a command help for `<command> --help` and `--help <command>`', async () => {
    const a = await run(['info', '--help']);
    const b = await run(['--help', 'info']);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout).toContain('Usage: tfjs-ddp info [options]');
    expect(a.stdout).toMatch(
      /--backend NAME +Backend to select \(default: env TFJS_DDP_BACKEND, else auto\) \(one of auto\|tensorflow-gpu\|webgpu\|tensorflow\|wasm\|cpu\)/,
    );
    expect(a.stdout).toContain('--data-dir DIR');
    expect(a.stdout).toContain('--json');
  });

  it('rejects an unknown command with exit code 2, naming it and pointing to --help', async () => {
    const r = await run(['bogus-command']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `tfjs-ddp: E_USAGE: unknown command 'bogus-command' (commands: ${COMMANDS.map((c) => c.name).join(', ')}); run 'tfjs-ddp --help' for usage\n`,
    );
  });

  it('rejects an unknown option before or after the command with exit code 2', async () => {
    const before = await run(['--frob']);
    expect(before.code).toBe(2);
    expect(before.stderr).toMatch(/unknown option '--frob'.*tfjs-ddp --help/);
    const after = await run(['info', '--bogus']);
    expect(after.code).toBe(2);
    expect(after.stderr).toMatch(
      /E_USAGE: unknown option '--bogus' for 'tfjs-ddp info'; run 'tfjs-ddp info --help'/,
    );
  });

  it('rejects a bad option value with exit code 2, quoting it and the allowed values', async () => {
    const r = await run(['info', '--backend', 'gpu']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--backend 'gpu' is not one of auto, tensorflow-gpu, webgpu, tensorflow, wasm, cpu");
    expect(r.stderr).toContain("run 'tfjs-ddp info --help'");
  });

  it('rejects a count that is not a positive integer before doing any work (eval --batch-size, check --micro-batch)', async () => {
    for (const [args, flag] of [
      [['eval', '--model', '/nonexistent', '--batch-size', '0'], 'batch-size'],
      [['eval', '--model', '/nonexistent', '--batch-size', '2.5'], 'batch-size'],
      [['check', '--model', '/nonexistent.mjs', '--micro-batch', 'auto'], 'micro-batch'],
    ] as const) {
      const r = await run([...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`E_USAGE: --${flag} must be a positive integer, got "${args[args.length - 1]}"`);
    }
  });

  it('reports a DdpError from a command with its message and exit code', async () => {
    const config = await run(['boom'], {}, [
      throwing(new DdpError('E_CONFIG', 'batch 0 is below 1', 'pass --batch 1 or more')),
    ]);
    expect(config).toEqual({
      code: 2,
      stdout: '',
      stderr: 'tfjs-ddp: E_CONFIG: batch 0 is below 1; pass --batch 1 or more\n',
    });
    const runtime = await run(['boom'], {}, [
      throwing(new DdpError('E_BACKEND', 'no backend could be loaded')),
    ]);
    expect([runtime.code, runtime.stderr]).toEqual([1, 'tfjs-ddp: E_BACKEND: no backend could be loaded\n']);
  });

  it('reports an unexpected error with its message and stack and exit code 1', async () => {
    const r = await run(['boom'], {}, [throwing(new TypeError('x is undefined'))]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tfjs-ddp: unexpected error .*TypeError: x is undefined\n\s+at /);
  });
});
