// The shape of a `tfjs-ddp` command: its name, one-line summary, help text, options and run function.
// Commands are declared with defineCommand (one file each under commands/) and listed in commands/index.ts;
// cli.ts parses argv against a command's options and calls its run.

/** Where a command writes and which environment it reads; injected so tests run commands in-process. */
export interface CliIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  env: Readonly<Record<string, string | undefined>>;
}

/** One `--name` option of a command. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  /** One-letter alias, e.g. 'h' for -h. */
  short?: string;
  /** Placeholder for the value in help (string options), e.g. 'DIR'. */
  valueName?: string;
  /** One line for the help text. */
  description: string;
  /** Allowed values (string options); anything else is a usage error naming them. */
  choices?: readonly string[];
  /** Value when the option is absent (string options); shown in help. */
  default?: string;
  /**
   * Given as the command's positional argument (`tfjs-ddp runs DIR`) instead of `--name VALUE`
   * (string options; at most one per command). Help shows it under its valueName.
   */
  positional?: boolean;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** Parsed values, typed from the specs: booleans are false when absent, choices narrow to their union. */
export type OptionValues<O extends OptionSpecs> = {
  [K in keyof O]: O[K] extends { type: 'boolean' }
    ? boolean
    : O[K] extends { choices: readonly (infer C)[] }
      ? O[K] extends { default: string }
        ? C
        : C | undefined
      : O[K] extends { default: string }
        ? string
        : string | undefined;
};

/** A command as its file declares it. */
export interface Command<O extends OptionSpecs> {
  name: string;
  /** One line for `tfjs-ddp --help`. */
  summary: string;
  /** What the command does, for `tfjs-ddp <name> --help` (may span lines). */
  description: string;
  options: O;
  /** Does the work; resolves to the exit code. Throws DdpError for failures the CLI reports. */
  run(values: OptionValues<O>, io: CliIo): Promise<number>;
}

/** A command with its option types erased, as the command table holds it. */
export interface CommandEntry {
  name: string;
  summary: string;
  description: string;
  options: OptionSpecs;
  run(values: Readonly<Record<string, string | boolean | undefined>>, io: CliIo): Promise<number>;
}

/** Declares a command; `const` keeps option literals so run's values are precisely typed. */
export function defineCommand<const O extends OptionSpecs>(command: Command<O>): CommandEntry {
  // The one cast: parseCommandArgs builds `values` from these same specs (defaults applied, choices checked).
  return { ...command, run: (values, io) => command.run(values as OptionValues<O>, io) };
}
