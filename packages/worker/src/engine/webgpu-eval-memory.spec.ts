// The worker's evaluation on webgpu runs in the buffers of its training plan (backend/
// webgpu-buffer-pool.ts): evaluating the test split after training steps adds next to nothing to
// the GPU memory's high-water mark. Before evaluation had a plan of its own, its forward pass took
// new buffers from the exact-size pool: at 32×32 and batch 8, 36 MiB against the steps' 27 (and
// 262 against 119 at 96×96, batch 16, where tfjs' own pool held 221). Lavapipe in CI; without a
// WebGPU adapter the suite fails, unless TFJS_DDP_SKIP_WEBGPU=1.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { afterAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend/select-backend';
import { shutdownWebGpu } from '../backend/webgpu';
import { gpuBytesAllocated } from '../backend/webgpu-scopes';
import { openTask } from '../task/open-task';
import { WorkerEngine } from './worker-engine';

const skip = process.env['TFJS_DDP_SKIP_WEBGPU'] === '1';

(skip ? describe.skip : describe)(
  skip ? 'evaluation memory on webgpu (skipped: TFJS_DDP_SKIP_WEBGPU=1)' : 'evaluation memory on webgpu',
  () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'eval-memory-'));
    afterAll(() => {
      shutdownWebGpu();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it("evaluates in the training plan's buffers: the high-water mark grows by under 10 %", async () => {
      const info = await selectBackend('webgpu');
      const batch = 8;
      await writeSyntheticFashionMnist(dataDir, { train: batch, test: 2 * batch, seed: 1 });
      const settings = {
        lr: 0.1,
        momentum: 0,
        resize: 32,
        pool: 'max' as const,
        seed: 0,
        batchNorm: true,
        dataDir,
        verifyData: false,
      };
      const task = await openTask(settings, 0, {});
      const engine = new WorkerEngine(task, { ...settings, microBatch: batch }, info);
      const indices = Uint32Array.from({ length: batch }, (_, i) => i);
      // Three steps: the first two are planned, the third follows the plan.
      for (let i = 0; i < 3; i++) engine.applyReduced((await engine.computeGradients(indices)).buffer);
      const afterSteps = gpuBytesAllocated()!;
      const first = await engine.evaluate(0, 2 * batch);
      engine.applyReduced((await engine.computeGradients(indices)).buffer);
      const second = await engine.evaluate(0, 2 * batch);
      expect(first.count).toBe(2 * batch);
      expect(second.count).toBe(2 * batch);
      expect(Number.isFinite(second.lossSum)).toBe(true);
      expect(gpuBytesAllocated()! / afterSteps).toBeLessThan(1.1);
    }, 120_000);
  },
);
