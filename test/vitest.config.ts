import { existsSync } from 'node:fs';
import { configDefaults, defineConfig } from 'vitest/config';
import { shared, sharedGlobalSetup } from '../vitest.shared.ts';

/**
 * Files that run alone, one after another: each depends on timing (step, join and ping timeouts, a
 * stall found by --step-timeout, links cut for seconds), on signals to process groups, or on a
 * machine-wide resource (network namespaces, fixed ports, the Slurm daemons, a browser).
 */
export const SERIAL = [
  'coordinator-death.test.ts',
  'coordinator-resume.test.ts',
  'curve.test.ts',
  'disk-full.test.ts',
  'distributed.test.ts',
  'elastic.test.ts',
  'multi-node.test.ts',
  'network-faults.test.ts',
  'oom-replay.test.ts',
  'parity.test.ts',
  'reliability.test.ts',
  'report.test.ts',
  'resume.test.ts',
  'slurm.test.ts',
  'spawn-cli.test.ts',
  'tensorboard.test.ts',
  'timeline.test.ts',
  'train-cli.test.ts',
  'wire-trust.test.ts',
];
for (const f of SERIAL) {
  if (!existsSync(new URL(f, import.meta.url)))
    throw new Error(`test/vitest.config.ts: SERIAL names ${f}, which is not in test/`);
}

// Multi-process and end-to-end tests: they spawn real processes. The others (each a run to its end,
// whatever its speed: the examples, the package, memory-fit's real searches, webgpu on lavapipe) run
// two files at a time first: a file alone kept the 2 cores about 55% busy (946 s of wall time for
// 1,055 s of CPU). Hooks too may run a training or pack a bundle (vitest's default for hooks is 10 s).
// support/e2e-bundle.ts bundles the sources first: the tests run that binary (support/spawn-cli.ts).
export default defineConfig({
  test: {
    ...shared,
    globalSetup: [...sharedGlobalSetup, 'support/e2e-bundle.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...SERIAL],
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: { name: 'e2e-serial', include: SERIAL, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
