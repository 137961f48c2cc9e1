// docs/cli.md, the command-line reference, rendered from the command table (every command's name,
// summary, description and option specs, as the parser and `--help` use them), so it cannot drift.
// gen-cli-doc.ts writes it (`npm run docs:cli`); cli-reference.spec.ts checks the committed file.
import { fileURLToPath } from 'node:url';
import { HELP_OPTION } from './args';
import type { CommandEntry, OptionSpec } from './command';

/** Where the reference lives in the repository. */
export const CLI_REFERENCE_PATH = fileURLToPath(new URL('../../../docs/cli.md', import.meta.url));

/** The markdown of docs/cli.md for `commands` (pure: same table, same bytes). */
export function renderCliReference(commands: readonly CommandEntry[]): string {
  return [
    '# Command-line reference',
    '',
    '<!-- Generated from the command table (packages/cli/src/commands/) by `npm run docs:cli`: change the',
    '     commands, then regenerate. packages/cli/src/cli-reference.spec.ts fails while it is out of date. -->',
    '',
    // `npm run format` would align the tables: the spec compares bytes.
    '<!-- prettier-ignore-start -->',
    '',
    '`tfjs-ddp <command> [options]`. Every command takes `-h`, `--help`; `tfjs-ddp --help` lists the',
    'commands and `tfjs-ddp --version` (`-V`) prints the version. Exit codes: 0 success, 2 usage or',
    'configuration error (before any work), 1 runtime failure.',
    '',
    '| command | what it does |',
    '|---|---|',
    ...commands.map((c) => `| [\`${c.name}\`](#${c.name}) | ${cell(c.summary)} |`),
    '',
    ...commands.flatMap(commandSection),
    '<!-- prettier-ignore-end -->',
    '',
  ].join('\n');
}

function commandSection(command: CommandEntry): string[] {
  const entries = Object.entries({ ...command.options, help: HELP_OPTION });
  const positional = entries.find(([, s]) => s.positional === true);
  const options = entries.filter(([, s]) => s.positional !== true);
  const operand = positional === undefined ? '' : ` [${positional[1].valueName ?? positional[0]}]`;
  return [
    `## ${command.name}`,
    '',
    '```text',
    `tfjs-ddp ${command.name}${operand} [options]`,
    '```',
    '',
    ...paragraphs(command.description),
    ...(positional === undefined
      ? []
      : [
          '| argument | default | description |',
          '|---|---|---|',
          `| ${code(positional[1].valueName ?? positional[0])} (optional) | ${defaultCell(positional[1])} | ${cell(positional[1].description)} |`,
          '',
        ]),
    '| option | value | default | description |',
    '|---|---|---|---|',
    ...options.map(([name, spec]) => `| ${flagCell(name, spec)} | ${valueCell(spec)} | ${defaultCell(spec)} | ${cell(spec.description)} |`),
    '',
  ];
}

function flagCell(name: string, spec: OptionSpec): string {
  return spec.short === undefined ? code(`--${name}`) : `${code(`-${spec.short}`)}, ${code(`--${name}`)}`;
}

function valueCell(spec: OptionSpec): string {
  if (spec.type === 'boolean') return '';
  const name = code(spec.valueName ?? 'VALUE');
  return spec.choices === undefined ? name : `${name}: one of ${spec.choices.map(code).join(', ')}`;
}

function defaultCell(spec: OptionSpec): string {
  return spec.default === undefined ? '' : code(spec.default);
}

/** A description's lines as markdown paragraphs (its lines are wrapped for a terminal; blank lines part paragraphs). */
function paragraphs(text: string): string[] {
  return text
    .split(/\n\s*\n/)
    .flatMap((p) => [prose(p.split('\n').map((l) => l.trim()).join(' ')), '']);
}

/** Text for a table cell: a `|` would end the cell, even inside backticks. */
function cell(text: string): string {
  return prose(text).replaceAll('|', '\\|');
}

/** Literal text in a table cell: a code span. */
function code(text: string): string {
  return `\`${text.replaceAll('|', '\\|')}\``;
}

/** Plain text as markdown: `<run-dir>` outside backticks would be taken for an HTML tag. */
function prose(text: string): string {
  return text
    .split('`')
    .map((part, i) => (i % 2 === 1 ? part : part.replaceAll('<', '\\<')))
    .join('`');
}
