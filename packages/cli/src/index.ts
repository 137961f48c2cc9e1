// Public surface of @tfjs-ddp/cli: the library API (train, loadModel, the task contract), and the
// command line as a function, for tests and embedding.
export { loadModel, train, type TrainHandle, type TrainOptions } from './api';
export { defineData, defineModel, type DataModule, type DataSplit, type ModelModule, type TaskContext } from '@tfjs-ddp/worker';
export type { RunSummary, TrainEvent } from '@tfjs-ddp/coordinator';
export { runCli } from './cli';
export type { CliIo, Command, CommandEntry, OptionSpec, OptionSpecs, OptionValues } from './command';
export { defineCommand } from './command';
export { COMMANDS } from './commands';
export { CLI_VERSION } from './version';
