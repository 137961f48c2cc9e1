// The `tfjs-ddp` command line: picks the command, parses its options, runs it, and turns every
// failure into a message on stderr and an exit code (ARCHITECTURE.md: 0 success, 2 usage/config
// error, 1 runtime failure). main.ts calls it with the real process; tests call it with captured io.

import { isDdpError } from '@tfjs-ddp/core';
import { parseCommandArgs, usageError } from './args';
import type { CliIo, CommandEntry } from './command';
import { COMMANDS } from './commands';
import { commandHelp, generalHelp } from './help';
import { CLI_VERSION } from './version';

/**
 * Runs `tfjs-ddp` with `argv` (the arguments after the program name).
 * @param commands the command table; tests pass their own
 * @returns the process exit code; never throws
 */
export async function runCli(
  argv: readonly string[],
  io: CliIo,
  commands: readonly CommandEntry[] = COMMANDS,
): Promise<number> {
  try {
    return await dispatch(argv, io, commands);
  } catch (e) {
    if (isDdpError(e)) {
      io.stderr.write(`tfjs-ddp: ${e.message}\n`);
      return e.exitCode;
    }
    // Not a DdpError: nobody anticipated it, so the stack is what a bug report needs.
    const detail = e instanceof Error ? (e.stack ?? e.message) : String(e);
    io.stderr.write(`tfjs-ddp: unexpected error (a bug; please report it with this output): ${detail}\n`);
    return 1;
  }
}

async function dispatch(
  argv: readonly string[],
  io: CliIo,
  commands: readonly CommandEntry[],
): Promise<number> {
  const [first, ...rest] = argv;
  const find = (name: string): CommandEntry => {
    const command = commands.find((c) => c.name === name);
    if (command === undefined) {
      throw usageError(`unknown command '${name}' (commands: ${commands.map((c) => c.name).join(', ')})`);
    }
    return command;
  };

  if (first === undefined || first === '--help' || first === '-h') {
    // `tfjs-ddp --help info` reads like `tfjs-ddp info --help`.
    const [topic, ...extra] = rest;
    if (extra.length > 0) throw usageError(`unexpected argument '${extra[0]}' after ${first} ${topic}`);
    io.stdout.write(topic === undefined ? generalHelp(commands) : commandHelp(find(topic)));
    return 0;
  }
  if (first === '--version' || first === '-V') {
    if (rest.length > 0) throw usageError(`unexpected argument '${rest[0]}' after ${first}`);
    io.stdout.write(`${CLI_VERSION}\n`);
    return 0;
  }
  if (first.startsWith('-')) throw usageError(`unknown option '${first}' (options go after the command)`);

  const command = find(first);
  const parsed = parseCommandArgs(command, rest);
  if (parsed.help) {
    io.stdout.write(commandHelp(command));
    return 0;
  }
  return command.run(parsed.values, io);
}
