// `tfjs-ddp eval` on webgpu (lavapipe in CI): a batch whose activations exceed what the device takes
// is scored again in halves, and the result is the one the smaller batch gives from the start. The
// adapter's maxStorageBufferBindingSize (128 MiB on lavapipe) stands in for a full GPU: withGpuErrorScopes
// treats a binding over it as an out-of-memory. Without a WebGPU adapter the suite fails, unless
// TFJS_DDP_SKIP_WEBGPU=1.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend/select-backend';
import { activeAdapter, shutdownWebGpu } from '../backend/webgpu';
import { evaluateSavedModel } from './evaluate-saved';
import { saveModelDir } from './model-files';

const skip = process.env['TFJS_DDP_SKIP_WEBGPU'] === '1';

(skip ? describe.skip : describe)(
  skip ? 'tfjs-ddp eval on webgpu (skipped: TFJS_DDP_SKIP_WEBGPU=1)' : 'tfjs-ddp eval on webgpu',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'eval-webgpu-'));
    afterAll(() => {
      shutdownWebGpu();
      rmSync(dir, { recursive: true, force: true });
    });

    it('scores a batch that does not fit in halves, as the smaller batch does from the start', async () => {
      await selectBackend('webgpu');
      const [rows, n] = [28, 300];
      // One conv of `filters` channels at 28×28: past the binding limit at 256 samples, under it at 128.
      const max = activeAdapter()!.maxStorageBufferBindingSize;
      const filters = Math.ceil(max / (256 * rows * rows * 4)) + 4;
      expect(128 * rows * rows * filters * 4).toBeLessThan(max);
      const model = tfl.sequential({
        layers: [
          tfl.layers.conv2d({
            inputShape: [rows, rows, 1],
            filters,
            kernelSize: 3,
            padding: 'same',
            activation: 'relu',
            kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }),
          }),
          tfl.layers.globalAveragePooling2d({}),
          tfl.layers.dense({ units: 10, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
        ],
      });
      await saveModelDir(model, join(dir, 'model'));
      model.dispose();
      const images = Uint8Array.from({ length: n * rows * rows }, (_, i) => (i * 7919) % 251);
      const labels = Uint8Array.from({ length: n }, (_, i) => (i * 31) % 10);

      const smaller: [number, number][] = [];
      const halved = await evaluateSavedModel(join(dir, 'model'), images, labels, rows, rows, {
        batchSize: 256,
        onSmallerBatch: (from, size) => smaller.push([from, size]),
      });
      expect(smaller).toEqual([[0, 128]]);
      const direct = await evaluateSavedModel(join(dir, 'model'), images, labels, rows, rows, {
        batchSize: 128,
      });
      expect(halved).toEqual(direct);
      expect(halved.count).toBe(n);
      expect(halved.batchSize).toBe(128);
      expect(Number.isFinite(halved.lossSum)).toBe(true);
    }, 120_000);
  },
);
