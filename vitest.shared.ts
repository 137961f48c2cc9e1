// Settings every project's vitest config starts from.
import type { ViteUserConfig } from 'vitest/config';

export const shared: NonNullable<ViteUserConfig['test']> = {
  environment: 'node',
  pool: 'forks',
  testTimeout: 30_000,
  reporters: ['default'],
};
