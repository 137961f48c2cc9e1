// Vitest global setup for packages/core: rebuilds the native data plane when zmq_ring.cc is newer
// than the build, so tests never run a stale addon (a no-op otherwise; --optional: without g++ or
// libzmq3-dev the tests run the zeromq.js plane, unless TFJS_DDP_NATIVE=1 makes it an error).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const script = fileURLToPath(new URL('./build.mjs', import.meta.url));
  execFileSync(process.execPath, [script, '--optional'], { stdio: 'inherit' });
}
