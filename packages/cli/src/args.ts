// Parses a command's arguments against its option specs with node:util parseArgs (tokens mode), so
// every mistake becomes an E_USAGE DdpError that names the bad argument and points to --help.
// Called by cli.ts once the command name is known.

import { parseArgs } from 'node:util';
import { DdpError } from '@tfjs-ddp/core';
import type { CommandEntry, OptionSpec, OptionSpecs } from './command';

/** Added to every command. */
export const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', description: 'Show this help' };

/** What the arguments asked for: the command's help, or a run with these values. */
export type ParsedCommandArgs =
  { help: true } | { help: false; values: Record<string, string | boolean | undefined> };

/** A usage error for `tfjs-ddp <command>`, pointing at the command's help. */
export function usageError(message: string, command?: string): DdpError {
  const help = command === undefined ? 'tfjs-ddp --help' : `tfjs-ddp ${command} --help`;
  return new DdpError('E_USAGE', message, `run '${help}' for usage`);
}

/**
 * The value of `--name N`, a positive integer, or `fallback` when the flag was not given.
 * @throws DdpError E_USAGE for anything else
 */
export function positiveIntFlag(name: string, raw: string | boolean | undefined, fallback: number, command: string): number {
  if (raw === undefined) return fallback;
  const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < 1) throw usageError(`--${name} must be a positive integer, got ${JSON.stringify(raw)}`, command);
  return n;
}

/**
 * Parses `argv` (the arguments after the command name).
 * @throws DdpError E_USAGE for an unknown option, a positional argument the command does not take
 *   (or a second one), a missing or unexpected value, or a value outside the option's choices
 */
export function parseCommandArgs(command: CommandEntry, argv: readonly string[]): ParsedCommandArgs {
  const specs: OptionSpecs = { ...command.options, help: HELP_OPTION };
  // The positional option is not a --flag: parseArgs leaves --name to the unknown-option check below.
  const positional = Object.entries(specs).find(([, s]) => s.positional === true);
  let positionalSeen = false;
  const config = Object.fromEntries(
    Object.entries(specs).filter(([, s]) => s.positional !== true).map(([name, s]) => [
      name,
      { type: s.type, ...(s.short ? { short: s.short } : {}) },
    ]),
  );
  // strict: false hands us every token, so the messages below are ours (and name the command).
  const { tokens } = parseArgs({
    args: [...argv],
    options: config,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  if (tokens.some((t) => t.kind === 'option' && t.name === 'help')) return { help: true };

  const values: Record<string, string | boolean | undefined> = {};
  for (const [name, spec] of Object.entries(specs))
    values[name] = spec.type === 'boolean' ? false : spec.default;
  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue;
    if (token.kind === 'positional') {
      if (positional === undefined || positionalSeen) {
        throw usageError(`unexpected argument '${token.value}' for 'tfjs-ddp ${command.name}'`, command.name);
      }
      const [name, spec] = positional;
      if (spec.choices !== undefined && !spec.choices.includes(token.value)) {
        throw usageError(`${spec.valueName ?? name} '${token.value}' is not one of ${spec.choices.join(', ')}`, command.name);
      }
      positionalSeen = true;
      values[name] = token.value;
      continue;
    }
    const spec = Object.hasOwn(specs, token.name) && specs[token.name]!.positional !== true ? specs[token.name] : undefined;
    if (spec === undefined) {
      throw usageError(`unknown option '${token.rawName}' for 'tfjs-ddp ${command.name}'`, command.name);
    }
    const flag = `--${token.name}`;
    if (spec.type === 'boolean') {
      if (token.value !== undefined) {
        throw usageError(`option ${flag} takes no value, got '${token.value}'`, command.name);
      }
      values[token.name] = true;
      continue;
    }
    // parseArgs takes the next argument as the value even when it looks like an option.
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith('-'))) {
      throw usageError(
        `option ${flag} needs a value (${flag} ${spec.valueName ?? 'VALUE'}; use ${flag}=VALUE for a value starting with '-')`,
        command.name,
      );
    }
    if (spec.choices !== undefined && !spec.choices.includes(token.value)) {
      throw usageError(`${flag} '${token.value}' is not one of ${spec.choices.join(', ')}`, command.name);
    }
    values[token.name] = token.value;
  }
  return { help: false, values };
}
