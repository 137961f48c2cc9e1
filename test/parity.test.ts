// Correctness by invariant: N workers that each compute their (uneven) slice of a global batch and
// ring-all-reduce the gradient produce the same averaged gradient, and the same weights after
// several steps, as one worker on the whole batch. The model is the DenseNet without BatchNorm
// (BatchNorm's batch statistics depend on the split by design). The ranks run in this process and
// all-reduce over the in-process transport; the ZeroMQ transport passes the same contract suite.
import { InProcessTransport, ringAllReduce, type RingChannel } from '@tfjs-ddp/core';
import { gatherImages, gatherLabels, syntheticSplit, type FashionMnistSplit } from '@tfjs-ddp/data';
import { WorkerEngine, buildTask, defineData, loadModelModule, prepareBatch, selectBackend, taskContext, type Task } from '@tfjs-ddp/worker';
import { beforeAll, describe, expect, it } from 'vitest';

const settings = { lr: 0.1, momentum: 0.9, resize: 32, pool: 'max' as const, seed: 4, microBatch: 4, batchNorm: false, dataDir: null, verifyData: false };

/** The seed's model module with generated Fashion-MNIST-like data, held in memory. */
const memoryData = defineData({
  load() {
    const split = (s: FashionMnistSplit) => ({
      size: s.count,
      batch: (idx: Uint32Array) => {
        const b = prepareBatch(gatherImages(s, idx), gatherLabels(s, idx), 28, 28, settings.resize);
        return { xs: b.x, ys: b.y };
      },
    });
    return { train: split(syntheticSplit(64, 5, 0)), test: split(syntheticSplit(16, 5, 1)) };
  },
});

async function seedTask(): Promise<Task> {
  return buildTask(await loadModelModule('builtin:densenet'), { module: memoryData, where: 'memory', sha256: null }, taskContext(settings, 0, {}));
}

function maxRelErr(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 1e-30;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}

async function ring(transport: InProcessTransport, n: number, tag: string): Promise<RingChannel[]> {
  const inboxes = await Promise.all(Array.from({ length: n }, (_, r) => transport.inbox(`inproc://${tag}-${r}`)));
  const outboxes = await Promise.all(inboxes.map((_, r) => transport.outbox(inboxes[(r + 1) % n]!.address)));
  return inboxes.map((left, rank) => ({ rank, worldSize: n, left, right: outboxes[rank]! }));
}

describe('data-parallel parity', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('3 ranks with uneven slices match 1 rank on the whole batch: gradient and weights after 3 steps within 1e-5', async () => {
    const backend = await selectBackend('wasm');
    const single = new WorkerEngine(await seedTask(), settings, backend);
    const ranks = await Promise.all([0, 1, 2].map(async () => new WorkerEngine(await seedTask(), settings, backend)));
    const channels = await ring(new InProcessTransport(), 3, 'parity');
    const slicesOf = [5, 11, 8]; // uneven on purpose, 24 in all, split across micro-batches of 4
    for (let step = 1; step <= 3; step++) {
      const batch = Uint32Array.from({ length: 24 }, (_, k) => (step * 24 + k * 7) % 64);
      const ref = await single.computeGradients(batch);
      let from = 0;
      const parts = slicesOf.map((n) => batch.subarray(from, (from += n)));
      const bufs = await Promise.all(ranks.map((e, r) => e.computeGradients(parts[r]!)));
      await Promise.all(bufs.map((b, r) => ringAllReduce(b.buffer, channels[r]!, { step, timeoutMs: 10_000 })));
      for (const b of bufs) expect(maxRelErr(b.buffer, ref.buffer)).toBeLessThan(1e-5);
      expect(bufs[0]!.buffer.at(-2)).toBe(24); // the summed sample count rides along with the gradient (then the abort flag)
      single.applyReduced(ref.buffer);
      ranks.forEach((e, r) => e.applyReduced(bufs[r]!.buffer));
    }
    const w = await single.trainer.layout.readWeights();
    const ws = await Promise.all(ranks.map((e) => e.trainer.layout.readWeights()));
    for (const x of ws) expect(maxRelErr(x, w)).toBeLessThan(1e-5);
    // Every rank applied the same reduced buffer: their weights are bit-identical.
    expect(Array.from(ws[1]!)).toEqual(Array.from(ws[0]!));
    expect(Array.from(ws[2]!)).toEqual(Array.from(ws[0]!));
    [single, ...ranks].forEach((e) => e.dispose());
  });
});
