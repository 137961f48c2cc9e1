import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkOneTfjs, resolvePackageFrom } from './one-tfjs';

// A project with its own (fake) copy of tfjs-core beside a module that would import it.
const root = mkdtempSync(join(tmpdir(), 'one-tfjs-'));
const core = join(root, 'node_modules', '@tensorflow', 'tfjs-core');
mkdirSync(core, { recursive: true });
writeFileSync(
  join(core, 'package.json'),
  JSON.stringify({ name: '@tensorflow/tfjs-core', version: '4.0.0', main: 'index.js' }),
);
writeFileSync(join(core, 'index.js'), '');
const userModule = join(root, 'model.mjs');
writeFileSync(userModule, 'export default {};\n');
const lonely = mkdtempSync(join(tmpdir(), 'one-tfjs-none-'));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(lonely, { recursive: true, force: true });
});

describe('checkOneTfjs', () => {
  it('refuses a module that resolves another copy of tfjs-core, naming both', () => {
    expect(() => checkOneTfjs('model', userModule)).toThrow(
      new RegExp(
        `E_TASK: model module .*model\\.mjs resolves @tensorflow/tfjs-core 4\\.0\\.0 at ${core}, but tfjs-ddp trains with 4\\.22\\.0`,
      ),
    );
  });

  it('accepts a module that resolves no TensorFlow.js (it builds with ctx.tf)', () => {
    expect(resolvePackageFrom('@tensorflow/tfjs-core', join(lonely, 'model.mjs'))).toBeNull();
    expect(() => checkOneTfjs('data', join(lonely, 'data.mjs'))).not.toThrow();
  });

  it('accepts a module that resolves the same copy as tfjs-ddp', () => {
    expect(() => checkOneTfjs('model', import.meta.url)).not.toThrow();
  });
});
