import { describe, expect, it } from 'vitest';
import { parseCommandArgs } from './args';
import { defineCommand } from './command';

const cmd = defineCommand({
  name: 'demo',
  summary: 'Demo',
  description: 'Demo.',
  options: {
    mode: { type: 'string', valueName: 'M', description: 'Mode', choices: ['a', 'b'], default: 'a' },
    dir: { type: 'string', short: 'd', valueName: 'DIR', description: 'Directory' },
    json: { type: 'boolean', description: 'JSON' },
  },
  run: () => Promise.resolve(0),
});

const usage = (argv: string[]) => () => parseCommandArgs(cmd, argv);

describe('parseCommandArgs', () => {
  it('applies defaults: false for booleans, the declared default or undefined for strings', () => {
    expect(parseCommandArgs(cmd, [])).toEqual({
      help: false,
      values: { mode: 'a', dir: undefined, json: false, help: false },
    });
  });

  it('reads --name value, --name=value, short aliases and booleans; the last occurrence wins', () => {
    expect(parseCommandArgs(cmd, ['--mode=b', '-d', '/x', '--json', '--dir', '/y'])).toEqual({
      help: false,
      values: { mode: 'b', dir: '/y', json: true, help: false },
    });
    expect(parseCommandArgs(cmd, ['--dir=-odd'])).toMatchObject({ values: { dir: '-odd' } });
  });

  it('answers help for --help or -h anywhere, even beside mistakes', () => {
    expect(parseCommandArgs(cmd, ['--bogus', '-h'])).toEqual({ help: true });
    expect(parseCommandArgs(cmd, ['--json', '--help'])).toEqual({ help: true });
  });

  it('names the unknown option, the stray argument, the missing or unwanted value', () => {
    expect(usage(['--bogus'])).toThrow(
      /^E_USAGE: unknown option '--bogus' for 'tfjs-ddp demo'; run 'tfjs-ddp demo --help'/,
    );
    expect(usage(['-x'])).toThrow(/unknown option '-x'/);
    expect(usage(['extra'])).toThrow(/unexpected argument 'extra'/);
    expect(usage(['--', '--json'])).toThrow(/unexpected argument '--json'/);
    expect(usage(['--dir'])).toThrow(/option --dir needs a value \(--dir DIR;/);
    expect(usage(['--dir', '--json'])).toThrow(/option --dir needs a value/);
    expect(usage(['--json=yes'])).toThrow(/option --json takes no value, got 'yes'/);
    expect(usage(['--mode', 'c'])).toThrow(/--mode 'c' is not one of a, b/);
  });

  it('throws usage errors that exit with code 2', () => {
    try {
      parseCommandArgs(cmd, ['--bogus']);
      expect.unreachable();
    } catch (e) {
      expect((e as { exitCode: number }).exitCode).toBe(2);
    }
  });
});
