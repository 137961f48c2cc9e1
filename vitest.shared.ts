// Settings every project's vitest config starts from.
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { ViteUserConfig } from 'vitest/config';

/** The global setup every project runs first (a project with its own adds it after this one). */
export const sharedGlobalSetup = [fileURLToPath(new URL('./vitest.tmp-setup.ts', import.meta.url))];

export const shared: NonNullable<ViteUserConfig['test']> = {
  environment: 'node',
  globalSetup: sharedGlobalSetup,
  pool: 'forks',
  // Vitest's default is one fork fewer than the cores: a single fork on the 2-core VM and in CI, where
  // the worker project's files then took 164 s instead of 98 s (the projects together 248 → 163 s).
  maxWorkers: Math.max(2, availableParallelism() - 1),
  testTimeout: 30_000,
  reporters: ['default'],
};
