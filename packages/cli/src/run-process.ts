// The CLI on this process's arguments and streams; main.ts imports it (and with it every command,
// TensorFlow.js and ZeroMQ) only when it has more to do than print the version.
import { shutdownWebGpu } from '@tfjs-ddp/worker';
import { runCli } from './cli';

/** Runs `tfjs-ddp argv…` and sets process.exitCode. */
export async function runOnProcess(argv: readonly string[]): Promise<void> {
  process.exitCode = await runCli(argv, { stdout: process.stdout, stderr: process.stderr, env: process.env });
  // Node does not exit while the WebGPU instance is reachable from globalThis.navigator.
  shutdownWebGpu();
}
