// Public surface of @tfjs-ddp/cli: the command line as a function, for tests and embedding.
export { runCli } from './cli';
export type { CliIo, Command, CommandEntry, OptionSpec, OptionSpecs, OptionValues } from './command';
export { defineCommand } from './command';
export { COMMANDS } from './commands';
export { CLI_VERSION } from './version';
