// The seed's data module names where its directory came from when the directory lacks the files:
// train passes TFJS_DDP_DATA_DIR on as its --data-dir setting, and the message says which the user set.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { taskContext, type TaskWorkerSettings } from '../open-task';
import fashionMnistData from './fashion-mnist-data';

const dir = mkdtempSync(join(tmpdir(), 'tfjs-ddp-fm-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const settings: TaskWorkerSettings = { resize: 28, pool: 'max', seed: 1, dataDir: dir, verifyData: false };

/** The data module's prepare(ctx) on a context with `env`. */
const prepare = (env: Record<string, string>) =>
  Promise.resolve(fashionMnistData.prepare?.(taskContext(settings, 0, env)));

describe('the Fashion-MNIST data module', () => {
  it('says --data-dir for a directory given as the setting', async () => {
    await expect(prepare({})).rejects.toMatchObject({ code: 'E_DATA_NOT_FOUND' });
    await expect(prepare({})).rejects.toThrow(`${dir} (from --data-dir) has no`);
  });

  it('says TFJS_DDP_DATA_DIR when the variable holds that directory', async () => {
    await expect(prepare({ TFJS_DDP_DATA_DIR: dir })).rejects.toThrow(
      `${dir} (from TFJS_DDP_DATA_DIR) has no`,
    );
    await expect(prepare({ TFJS_DDP_DATA_DIR: '/elsewhere' })).rejects.toThrow('(from --data-dir)');
  });
});
