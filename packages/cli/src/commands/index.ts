// The command table: one entry per `tfjs-ddp <command>`, in the order `tfjs-ddp --help` lists them.
// A new command is a file here exporting defineCommand(...) plus one line below; cli.ts, the parser
// and the help text need no change.
import type { CommandEntry } from '../command';
import { checkCommand } from './check';
import { coordinatorCommand } from './coordinator';
import { evalCommand } from './eval';
import { findBatchCommand } from './find-batch';
import { infoCommand } from './info';
import { keygenCommand } from './keygen';
import { reportCommand } from './report';
import { runsCommand } from './runs';
import { trainCommand } from './train';
import { workerCommand } from './worker';

export const COMMANDS: readonly CommandEntry[] = [trainCommand, coordinatorCommand, workerCommand, keygenCommand, findBatchCommand, checkCommand, evalCommand, runsCommand, reportCommand, infoCommand];
