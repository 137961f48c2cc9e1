// The seed's data module names where its directory came from when the directory lacks the files:
// train passes TFJS_DDP_DATA_DIR on as its --data-dir setting, and the message says which the user set.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDdpError } from '@tfjs-ddp/core';
import { afterAll, describe, expect, it } from 'vitest';
import { taskContext, type TaskWorkerSettings } from '../open-task';
import fashionMnistData from './fashion-mnist-data';

const dir = mkdtempSync(join(tmpdir(), 'tfjs-ddp-fm-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const settings: TaskWorkerSettings = { resize: 28, pool: 'max', seed: 1, dataDir: dir, verifyData: false };

async function prepareError(env: Record<string, string>): Promise<Error> {
  const e = await Promise.resolve(fashionMnistData.prepare?.(taskContext(settings, 0, env))).then(
    () => null,
    (x: unknown) => x,
  );
  expect(isDdpError(e, 'E_DATA_NOT_FOUND'), String(e)).toBe(true);
  return e as Error;
}

describe('the Fashion-MNIST data module', () => {
  it('says --data-dir for a directory given as the setting', async () => {
    expect((await prepareError({})).message).toContain(`${dir} (from --data-dir) has no`);
  });

  it('says TFJS_DDP_DATA_DIR when the variable holds that directory', async () => {
    expect((await prepareError({ TFJS_DDP_DATA_DIR: dir })).message).toContain(
      `${dir} (from TFJS_DDP_DATA_DIR) has no`,
    );
    expect((await prepareError({ TFJS_DDP_DATA_DIR: '/elsewhere' })).message).toContain('(from --data-dir)');
  });
});
