import { describe, expect, it } from 'vitest';
import { BUNDLED, shippedFile } from './shipped-file';

describe('shippedFile', () => {
  const where = { source: '../../bin/probe-child.js', bundle: './probe-child.js' };

  it('resolves against the source file when running the sources', () => {
    expect(shippedFile('file:///r/packages/worker/src/memory/fit.ts', where, false)).toBe(
      '/r/packages/worker/bin/probe-child.js',
    );
  });

  it('resolves against the chunk in dist/ when running the bundle', () => {
    expect(shippedFile('file:///p/node_modules/tfjs-ddp/dist/chunk-AB12.js', where, true)).toBe(
      '/p/node_modules/tfjs-ddp/dist/probe-child.js',
    );
  });

  it('is not bundled when the sources run through tsx', () => {
    expect(BUNDLED).toBe(false);
  });
});
