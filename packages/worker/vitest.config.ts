import { defineConfig } from 'vitest/config';
import { shared } from '../../vitest.shared';

export default defineConfig({
  test: { ...shared, include: ['src/**/*.spec.ts'], globalSetup: ['native/vitest-setup.ts'] },
});
