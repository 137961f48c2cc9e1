import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLI_REFERENCE_PATH, renderCliReference } from './cli-reference';
import { defineCommand } from './command';
import { COMMANDS } from './commands';

describe('docs/cli.md', () => {
  it('is what the command table renders (after changing a command, run `npm run docs:cli`)', () => {
    const committed = existsSync(CLI_REFERENCE_PATH) ? readFileSync(CLI_REFERENCE_PATH, 'utf8') : '(missing)';
    const rendered = renderCliReference(COMMANDS);
    // The fix and the first line that differs, rather than a diff of the whole file.
    if (committed !== rendered) {
      const a = committed.split('\n');
      const b = rendered.split('\n');
      const i = b.findIndex((line, k) => line !== a[k]);
      const at = i < 0 ? a.length : i;
      expect.fail(
        `${CLI_REFERENCE_PATH} is out of date with the commands' definitions: run \`npm run docs:cli\` and commit it ` +
          `(line ${at + 1} is ${JSON.stringify(a[at] ?? '(end of file)')}, the commands give ${JSON.stringify(b[at] ?? '(end of file)')})`,
      );
    }
  });

  it('has a section for every command and a row for every option', () => {
    const doc = renderCliReference(COMMANDS);
    for (const c of COMMANDS) {
      expect(doc).toContain(`\n## ${c.name}\n`);
      for (const [name, spec] of Object.entries(c.options)) {
        expect(doc).toContain(spec.positional === true ? `| \`${spec.valueName ?? name}\` (optional) |` : `\`--${name}\` |`);
      }
    }
  });
});

describe('renderCliReference', () => {
  const demo = defineCommand({
    name: 'demo',
    summary: 'Shows <things> | more',
    description: 'First line of text\nwrapped for a terminal; `keep <this>`.\n\nSecond paragraph.',
    options: {
      dir: { type: 'string', valueName: 'DIR', positional: true, description: 'where', default: 'runs' },
      mode: { type: 'string', short: 'm', valueName: 'a|b', description: 'how', choices: ['a', 'b'], default: 'a' },
      quiet: { type: 'boolean', description: 'say less' },
    },
    run: () => Promise.resolve(0),
  });
  const doc = renderCliReference([demo]);

  it('links each command from the index, escaping what markdown would read as a tag or a cell border', () => {
    expect(doc).toContain('| [`demo`](#demo) | Shows \\<things> \\| more |');
  });

  it('joins a description into paragraphs and leaves code spans as they are', () => {
    expect(doc).toContain('\nFirst line of text wrapped for a terminal; `keep <this>`.\n\nSecond paragraph.\n');
  });

  it('shows the positional argument in the usage line and its own table, and every option with value, choices and default', () => {
    expect(doc).toContain('```text\ntfjs-ddp demo [DIR] [options]\n```');
    expect(doc).toContain('| `DIR` (optional) | `runs` | where |');
    expect(doc).toContain('| `-m`, `--mode` | `a\\|b`: one of `a`, `b` | `a` | how |');
    expect(doc).toContain('| `--quiet` |  |  | say less |');
    expect(doc).toContain('| `-h`, `--help` |  |  | Show this help |');
    expect(doc).not.toContain('`--dir`');
  });
});
