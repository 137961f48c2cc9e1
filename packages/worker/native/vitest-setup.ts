// Vitest global setup for packages/worker: rebuilds the native oneDNN convolutions when dnnl_conv.cc
// is newer than the build, so tests never run a stale addon (a no-op otherwise; --optional: without
// g++ or libdnnl-dev the tests that need it skip, unless TFJS_DDP_NATIVE=1 or CI makes it an error).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const script = fileURLToPath(new URL('./build.mjs', import.meta.url));
  execFileSync(process.execPath, [script, '--optional'], { stdio: 'inherit' });
}
