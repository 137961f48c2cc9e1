// `tfjs-ddp eval --model DIR` scores a saved model on Fashion-MNIST: a model of another task (here
// 8×8×3 images in, 5 classes out) is refused with E_CONFIG and the way to evaluate it, where tfjs
// used to throw "Input 0 is incompatible with layer …", reported as a bug.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend/select-backend';
import { evaluateSavedModel } from './evaluate-saved';
import { saveModelDir } from './model-files';

const dir = mkdtempSync(join(tmpdir(), 'eval-saved-'));
beforeAll(() => selectBackend('wasm'), 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tfjs-ddp eval --model', () => {
  it('refuses a model that is not a Fashion-MNIST classifier, naming its shapes and `eval RUN_DIR`', async () => {
    const model = tfl.sequential({
      layers: [tfl.layers.flatten({ inputShape: [8, 8, 3] }), tfl.layers.dense({ units: 5 })],
    });
    await saveModelDir(model, join(dir, 'model'));
    model.dispose();
    const images = new Uint8Array(4 * 28 * 28);
    await expect(
      evaluateSavedModel(join(dir, 'model'), images, new Uint8Array(4), 28, 28),
    ).rejects.toMatchObject({
      code: 'E_CONFIG',
      message: expect.stringContaining(
        'takes inputs [null,8,8,3] and gives [null,5]: not a Fashion-MNIST classifier',
      ) as unknown,
    });
  }, 60_000);
});
