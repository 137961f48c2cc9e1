import { defineConfig } from 'vitest/config';
import { shared, sharedGlobalSetup } from '../../vitest.shared.ts';

export default defineConfig({
  test: {
    ...shared,
    include: ['src/**/*.spec.ts'],
    globalSetup: [...sharedGlobalSetup, 'native/vitest-setup.ts'],
  },
});
