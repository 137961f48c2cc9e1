// `npm run docs:cli`: writes docs/cli.md from the command table. Run it after changing a command's
// name, summary, description or options; cli-reference.spec.ts fails until it has been run.
import { writeFileSync } from 'node:fs';
import { CLI_REFERENCE_PATH, renderCliReference } from './cli-reference';
import { COMMANDS } from './commands';

writeFileSync(CLI_REFERENCE_PATH, renderCliReference(COMMANDS));
process.stdout.write(`wrote ${CLI_REFERENCE_PATH}\n`);
