// The command table: one entry per `tfjs-ddp <command>`, in the order `tfjs-ddp --help` lists them.
// A new command is a file here exporting defineCommand(...) plus one line below; cli.ts, the parser
// and the help text need no change. Planned: coordinator, worker, find-batch.
import type { CommandEntry } from '../command';
import { evalCommand } from './eval';
import { infoCommand } from './info';
import { trainCommand } from './train';

export const COMMANDS: readonly CommandEntry[] = [trainCommand, evalCommand, infoCommand];
