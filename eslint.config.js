// ESLint flat config: typescript-eslint strict rules everywhere, and the package layering of
// ARCHITECTURE.md enforced with Nx tags, so a wrong import fails lint.
import js from '@eslint/js';
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'runs/**', '.nx/**', 'packages/cli/bin/**'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    // Plain Node scripts (native/build.mjs): run before any TypeScript tooling exists.
    files: ['**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // Config files (vitest.config.ts) reach the shared root config by path; sources may not.
    files: ['packages/*/src/**/*.ts', 'tools/**/*.ts', 'test/**/*.ts'],
    ignores: ['**/vitest.config.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          allow: [],
          banTransitiveDependencies: false,
          depConstraints: [
            { sourceTag: 'scope:core', onlyDependOnLibsWithTags: ['scope:core'] },
            { sourceTag: 'scope:data', onlyDependOnLibsWithTags: ['scope:core'] },
            { sourceTag: 'scope:worker', onlyDependOnLibsWithTags: ['scope:core', 'scope:data'] },
            { sourceTag: 'scope:coordinator', onlyDependOnLibsWithTags: ['scope:core', 'scope:data'] },
            { sourceTag: 'scope:cli', onlyDependOnLibsWithTags: ['scope:core', 'scope:data', 'scope:worker', 'scope:coordinator'] },
            { sourceTag: 'scope:tools', onlyDependOnLibsWithTags: ['scope:core', 'scope:data', 'scope:worker', 'scope:coordinator'] },
            { sourceTag: 'scope:test', onlyDependOnLibsWithTags: ['scope:core', 'scope:data', 'scope:worker', 'scope:coordinator', 'scope:cli'] },
          ],
        },
      ],
    },
  },
  {
    // Only packages/worker may import TensorFlow.js (ARCHITECTURE.md); tools and tests may too.
    files: ['packages/core/**/*.ts', 'packages/data/**/*.ts', 'packages/coordinator/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['@tensorflow/*'], message: 'Only @tfjs-ddp/worker imports TensorFlow.js.' }] }],
    },
  },
  {
    // ZeroMQ stays behind the transport seam in core (exported as @tfjs-ddp/core/zmq).
    files: ['packages/**/*.ts'],
    ignores: ['packages/core/src/transport/zmq/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'zeromq', message: 'Use @tfjs-ddp/core/zmq.' }], patterns: [{ group: ['@tensorflow/*'], message: 'Only @tfjs-ddp/worker imports TensorFlow.js.' }] }],
    },
  },
  {
    files: ['packages/worker/**/*.ts', 'packages/cli/**/*.ts'],
    ignores: ['packages/core/src/transport/zmq/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'zeromq', message: 'Use @tfjs-ddp/core/zmq.' }] }],
    },
  },
);
