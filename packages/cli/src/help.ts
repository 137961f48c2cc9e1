// Help text: the command list for `tfjs-ddp --help` and the option table for `tfjs-ddp <cmd> --help`,
// both generated from the command table so they cannot drift from what the parser accepts.

import { HELP_OPTION } from './args';
import type { CommandEntry, OptionSpec } from './command';
import { CLI_VERSION } from './version';

/** Text of `tfjs-ddp --help` (and of `tfjs-ddp` with no arguments). */
export function generalHelp(commands: readonly CommandEntry[]): string {
  const rows = commands.map((c): [string, string] => [c.name, c.summary]);
  return [
    `tfjs-ddp ${CLI_VERSION}: distributed data-parallel training for TensorFlow.js in Node`,
    '',
    'Usage: tfjs-ddp <command> [options]',
    '',
    'Commands:',
    ...table(rows),
    '',
    'Options:',
    ...table([
      ['-h, --help', 'Show this help'],
      ['-V, --version', 'Print the version'],
    ]),
    '',
    "Run 'tfjs-ddp <command> --help' for a command's options.",
    '',
  ].join('\n');
}

/** Text of `tfjs-ddp <command> --help`. */
export function commandHelp(command: CommandEntry): string {
  const options = { ...command.options, help: HELP_OPTION };
  const positional = Object.entries(options).find(([, spec]) => spec.positional === true);
  const operand = positional === undefined ? undefined : (positional[1].valueName ?? positional[0]);
  const rows = Object.entries(options)
    .filter(([, spec]) => spec.positional !== true)
    .map(([name, spec]): [string, string] => [optionLabel(name, spec), optionText(spec)]);
  return [
    `Usage: tfjs-ddp ${command.name}${operand === undefined ? '' : ` [${operand}]`} [options]`,
    '',
    command.description,
    '',
    ...(positional === undefined ? [] : ['Arguments:', ...table([[operand!, optionText(positional[1])]]), '']),
    'Options:',
    ...table(rows),
    '',
  ].join('\n');
}

function optionLabel(name: string, spec: OptionSpec): string {
  const long = spec.type === 'string' ? `--${name} ${spec.valueName ?? 'VALUE'}` : `--${name}`;
  return spec.short === undefined ? `    ${long}` : `-${spec.short}, ${long}`;
}

function optionText(spec: OptionSpec): string {
  const extras = [
    ...(spec.choices ? [`one of ${spec.choices.join('|')}`] : []),
    ...(spec.default !== undefined ? [`default ${spec.default}`] : []),
  ];
  return extras.length > 0 ? `${spec.description} (${extras.join('; ')})` : spec.description;
}

function table(rows: readonly [string, string][]): string[] {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`);
}
