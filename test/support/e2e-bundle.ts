// Vitest global setup of the e2e tests: bundles the sources as the published package is bundled
// (tools/package/build.mjs, without type declarations) into dist/e2e/, the binary that
// support/spawn-cli.ts runs. A test then spends about half the time starting processes: a worker
// starts in ~1.2 s instead of ~3 s through tsx on the 2-core VM. TFJS_DDP_E2E_SOURCES=1 skips the
// build and runs the sources.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  if (process.env['TFJS_DDP_E2E_SOURCES'] === '1') return;
  // Each project of test/vitest.config.ts runs the global setups: bundle once per run.
  if (process.env['TFJS_DDP_E2E_BUNDLED'] === '1') return;
  const repo = fileURLToPath(new URL('../..', import.meta.url));
  const r = spawnSync(
    process.execPath,
    [join(repo, 'tools/package/build.mjs'), '--no-dts', '--out', join(repo, 'dist/e2e')],
    {
      cwd: repo,
      encoding: 'utf8',
    },
  );
  if (r.status !== 0)
    throw new Error(
      `e2e: bundling the sources into dist/e2e failed (exit ${r.status ?? r.signal}); run TFJS_DDP_E2E_SOURCES=1 to test the sources without it\n${r.stdout}\n${r.stderr}`,
    );
  process.env['TFJS_DDP_E2E_BUNDLED'] = '1';
}
