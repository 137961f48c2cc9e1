// The library API's checks before any work, for JavaScript callers that TypeScript does not check:
// a misspelt option used to train with the default (max_steps: 1 trained 20 steps at batch 256), a
// bad signal failed inside the run with a TypeError, and loadModel() threw raw ENOENT errors.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel, train, type TrainOptions } from './api';

const dir = mkdtempSync(join(tmpdir(), 'tfjs-ddp-api-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What a JavaScript caller may pass. */
const untyped = (o: unknown) => o as TrainOptions;

describe('train() options', () => {
  it('refuses unknown option names, naming them and the real ones, and creates nothing', () => {
    const runDir = join(dir, 'r1');
    expect(() => train(untyped({ max_steps: 1, batchsize: 8, runDir }))).toThrow(
      /^E_CONFIG: train\(\): unknown options max_steps, batchsize; the options are .*maxSteps.*\(camelCase: batchSize, maxSteps, …\)$/,
    );
    expect(existsSync(runDir)).toBe(false);
  });

  it('refuses a signal that is not an AbortSignal and env that is not an object', () => {
    expect(() => train(untyped({ signal: 'x' }))).toThrow('E_CONFIG: train(): signal must be an AbortSignal');
    expect(() => train(untyped({ env: 'x' }))).toThrow(/^E_CONFIG: train\(\): env must be an object/);
    expect(() => train(untyped('fast'))).toThrow(/^E_CONFIG: train\(options\): options must be an object/);
  });

  it("names a bad value by its option, not by the CLI's flag", () => {
    expect(() => train({ batchSize: 0 })).toThrow(/^E_CONFIG: train\(\): batchSize must be ≥ 1, got 0/);
    expect(() => train({ batchSize: 32, microBatch: 64 })).toThrow(
      'E_CONFIG: train(): microBatch 64 is larger than batchSize 32',
    );
  });
});

describe('loadModel()', () => {
  it('says which file is missing, as an E_CONFIG', async () => {
    await expect(loadModel(join(dir, 'nope'))).rejects.toMatchObject({
      code: 'E_CONFIG',
      message: expect.stringContaining(
        `${join(dir, 'nope', 'model', 'model.json')} does not exist`,
      ) as unknown,
    });
    await expect(loadModel(dir)).rejects.toMatchObject({
      code: 'E_CONFIG',
      message: expect.stringContaining('the run saved no model yet') as unknown,
    });
    await expect(loadModel('')).rejects.toMatchObject({ code: 'E_CONFIG' });
    await expect(loadModel(undefined as unknown as string)).rejects.toMatchObject({ code: 'E_CONFIG' });
  });
});
