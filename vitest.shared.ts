// Settings every project's vitest config starts from.
import { fileURLToPath } from 'node:url';
import type { ViteUserConfig } from 'vitest/config';

/** The global setup every project runs first (a project with its own adds it after this one). */
export const sharedGlobalSetup = [fileURLToPath(new URL('./vitest.tmp-setup.ts', import.meta.url))];

export const shared: NonNullable<ViteUserConfig['test']> = {
  environment: 'node',
  globalSetup: sharedGlobalSetup,
  pool: 'forks',
  testTimeout: 30_000,
  reporters: ['default'],
};
