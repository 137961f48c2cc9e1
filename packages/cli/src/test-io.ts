// Test helper: a CliIo that collects what a command writes, and a runner that returns it with the
// exit code. Used by the *.spec.ts files only.
import { runCli } from './cli';
import type { CliIo, CommandEntry } from './command';
import { COMMANDS } from './commands';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `tfjs-ddp ...argv` in-process with captured output and the given environment. */
export async function run(
  argv: readonly string[],
  env: CliIo['env'] = {},
  commands: readonly CommandEntry[] = COMMANDS,
): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env,
  };
  const code = await runCli(argv, io, commands);
  return { code, stdout, stderr };
}
