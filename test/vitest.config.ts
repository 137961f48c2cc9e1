import { defineConfig } from 'vitest/config';
import { shared, sharedGlobalSetup } from '../vitest.shared';

// Multi-process and end-to-end tests: they spawn real processes, so they run one file at a time.
export default defineConfig({
  // Hooks too may run a training or pack a bundle (vitest's default for hooks is 10 s).
  // support/e2e-bundle.ts bundles the sources first: the tests run that binary (support/spawn-cli.ts).
  test: { ...shared, include: ['**/*.test.ts'], globalSetup: [...sharedGlobalSetup, 'support/e2e-bundle.ts'], testTimeout: 300_000, hookTimeout: 300_000, fileParallelism: false },
});
