// Entry of the `tfjs-ddp` binary (bin/tfjs-ddp.js loads it through tsx): runs the CLI on this process.
import { shutdownWebGpu } from '@tfjs-ddp/worker';
import { runCli } from './cli';

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
// Node does not exit while the WebGPU instance is reachable from globalThis.navigator.
shutdownWebGpu();
