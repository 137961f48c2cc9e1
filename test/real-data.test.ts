// Training on the real Fashion-MNIST (Debian's dataset-fashion-mnist, installed by .ci/run): a
// bounded run of the real binary must clearly beat chance on all 10,000 test images, and the
// exported model, reloaded with stock tf.loadLayersModel, must give the same accuracy.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEBIAN_FASHION_MNIST_DIR, gatherImages, gatherLabels, loadFashionMnist } from '@tfjs-ddp/data';
import { evaluateSavedModel, selectBackend } from '@tfjs-ddp/worker';
import { describe, expect, it } from 'vitest';
import { readJson, runCli, tmp } from './support/spawn-cli';

const haveData = existsSync(join(DEBIAN_FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));

describe.runIf(haveData)('training on the real Fashion-MNIST', () => {
  it('reaches a test accuracy above 0.6 in 60 steps, and the exported model reproduces it', async () => {
    const runDir = join(tmp('real'), 'r');
    // 60 steps of 64 at 32×32 with momentum 0.9 reached 0.6607 here (seeded, deterministic on one
    // machine; chance is 0.1). 120 steps without momentum reached 0.7515, in twice the time.
    const r = await runCli(['train', '--workers', '1', '--resize', '32', '--batch-size', '64', '--momentum', '0.9', '--max-steps', '60', '--backend', 'wasm', '--run-dir', runDir]);
    expect(r.stderr).toMatch(/done: 60 steps/);
    expect(r.code).toBe(0);
    const summary = readJson(join(runDir, 'summary.json'));
    expect(summary['test_acc']).toBeGreaterThan(0.6);

    await selectBackend('wasm');
    const data = await loadFashionMnist({ dataDir: DEBIAN_FASHION_MNIST_DIR });
    expect(data.test.count).toBe(10_000);
    const all = Uint32Array.from({ length: data.test.count }, (_, i) => i);
    const ev = await evaluateSavedModel(join(runDir, 'model'), gatherImages(data.test, all), gatherLabels(data.test, all), data.rows, data.cols);
    expect(ev.count).toBe(10_000);
    expect(ev.correct / ev.count).toBeCloseTo(summary['test_acc'] as number, 4);
  });
});
