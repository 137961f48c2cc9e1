// Entry of the `tfjs-ddp` binary (bin/tfjs-ddp.js loads it through tsx; dist/cli.js in the package).
// `--version` answers before the rest is loaded: importing the commands loads TensorFlow.js and
// ZeroMQ, most of a second on the 2-core machine (docs/benchmarks.md).
import { CLI_VERSION } from './version';

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
  process.stdout.write(`${CLI_VERSION}\n`);
} else {
  const { runOnProcess } = await import('./run-process');
  await runOnProcess(argv);
}
