// The planned buffer pool on the real webgpu backend (lavapipe in CI): a micro-batch's second run
// follows the plan of its first (the same GPU buffers, fewer bytes on the device than tfjs' pool
// holds), a tensor given a planned buffer larger than itself reads back its own values and length,
// a micro-batch that differs from its plan is planned anew, and one that fails leaves no plan.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateWebGpu, shutdownWebGpu } from './webgpu';
import { gpuBytesAllocated, withGpuErrorScopes } from './webgpu-scopes';
import { PlannedBufferPool } from './webgpu-buffer-pool';

const skip = process.env['TFJS_DDP_SKIP_WEBGPU'] === '1';
const allocated = () => (tf.memory() as unknown as { numBytesAllocatedInGPU: number }).numBytesAllocatedInGPU;
const pool = () => (tf.backend() as unknown as { bufferManager: PlannedBufferPool }).bufferManager;

/**
 * A chain of element-wise ops (above tfjs' CPU hand-off size, so each runs on the GPU), each input
 * freed once used, then a small tensor made after the large ones are gone: its planned buffer is
 * one of theirs. Returns the small tensor's values and the storage buffers the pool handed out.
 */
async function microBatch(n: number): Promise<{ small: number[]; large: number; handed: object[] }> {
  const handed: object[] = [];
  const p = pool();
  const acquire = p.acquireBuffer.bind(p);
  p.acquireBuffer = (...a: Parameters<PlannedBufferPool['acquireBuffer']>) => {
    const b = acquire(...a);
    if ((a[1] & 0x80) !== 0) handed.push(b);
    return b;
  };
  try {
    let x = tf.fill([n], 1);
    for (let i = 0; i < 4; i++) {
      const y = tf.add(x, 1);
      x.dispose();
      x = y;
    }
    const sum = tf.sum(x);
    x.dispose();
    const large = (await sum.data())[0]!;
    sum.dispose();
    const three = tf.fill([2048], 3);
    const s = tf.mul(three, 2);
    three.dispose();
    const small = Array.from(await s.data());
    s.dispose();
    return { small, large, handed };
  } finally {
    p.acquireBuffer = acquire;
  }
}

(skip ? describe.skip : describe)(
  skip ? 'planned buffer pool (skipped: TFJS_DDP_SKIP_WEBGPU=1)' : 'planned buffer pool',
  () => {
    beforeAll(async () => {
      await activateWebGpu({ allowSoftware: true });
    }, 60_000);
    afterAll(() => shutdownWebGpu());

    it('follows the first run of a micro-batch from the second on: the same buffers, small tensors read back whole', async () => {
      expect(pool()).toBeInstanceOf(PlannedBufferPool);
      const runs: Awaited<ReturnType<typeof microBatch>>[] = [];
      const highWater: number[] = [];
      for (let i = 0; i < 3; i++) {
        runs.push(await withGpuErrorScopes(() => microBatch(65_536), { plan: 'spec:a' }));
        highWater.push(gpuBytesAllocated()!);
        // The high-water mark the memory probe reads covers what the device holds.
        expect(allocated()).toBeLessThanOrEqual(highWater.at(-1)!);
      }
      // The first run's mark already counted its plan's buffers (8 KiB and more here): following
      // the plan adds at most a few uniform buffers of tfjs' (16 bytes each).
      expect(highWater[2]! - highWater[0]!).toBeLessThan(1024);
      for (const r of runs) {
        expect(r.large).toBe(65_536 * 5);
        expect(r.small).toEqual(new Array<number>(2048).fill(6));
      }
      // Runs 2 and 3 follow the plan: the same GPU storage buffers in the same order.
      expect(runs[2]!.handed).toHaveLength(runs[1]!.handed.length);
      expect(runs[2]!.handed.every((b, i) => b === runs[1]!.handed[i])).toBe(true);
      // The small tensor got a planned buffer larger than itself, and read back 2048 values.
      const storage = runs[2]!.handed as { size: number }[];
      expect(storage.some((b) => b.size > 2048 * 4)).toBe(true);
      // Fewer buffers than requests, and fewer bytes on the device than the requests add up to.
      const total = storage.reduce((s, b) => s + b.size, 0);
      expect(new Set(storage).size).toBeLessThan(storage.length);
      expect(allocated()).toBeLessThan(total);
    });

    it('plans a micro-batch that differs from its plan anew, with the right values throughout', async () => {
      await withGpuErrorScopes(() => microBatch(65_536), { plan: 'spec:b' });
      const other = await withGpuErrorScopes(() => microBatch(32_768), { plan: 'spec:b' });
      expect(other.large).toBe(32_768 * 5);
      expect(other.small).toEqual(new Array<number>(2048).fill(6));
      const again = await withGpuErrorScopes(() => microBatch(32_768), { plan: 'spec:b' });
      const third = await withGpuErrorScopes(() => microBatch(32_768), { plan: 'spec:b' });
      expect(third.large).toBe(32_768 * 5);
      expect(third.handed.every((b, i) => b === again.handed[i])).toBe(true);
    });

    it('serves micro-batches of two sizes in turn from one set of planned buffers', async () => {
      const run = (n: number, key: string) => withGpuErrorScopes(() => microBatch(n), { plan: key });
      const rounds = [];
      for (let i = 0; i < 4; i++)
        rounds.push([await run(65_536, 'spec:large'), await run(32_768, 'spec:small')] as const);
      const highWater = gpuBytesAllocated()!;
      for (let i = 0; i < 2; i++)
        rounds.push([await run(65_536, 'spec:large'), await run(32_768, 'spec:small')] as const);
      for (const [large, small] of rounds) {
        expect(large.large).toBe(65_536 * 5);
        expect(small.large).toBe(32_768 * 5);
        expect(small.small).toEqual(new Array<number>(2048).fill(6));
      }
      // Once both are planned, the smaller micro-batch runs in the larger one's buffers, and
      // taking turns allocates nothing more.
      const [large, small] = rounds.at(-1)!;
      const largeBuffers = new Set(large.handed);
      expect(small.handed.every((b) => largeBuffers.has(b))).toBe(true);
      expect(gpuBytesAllocated()! - highWater).toBeLessThan(1024);
    });

    it('keeps no plan of a micro-batch that failed', async () => {
      await expect(
        withGpuErrorScopes(
          async () => {
            await microBatch(65_536);
            throw new Error('the micro-batch failed');
          },
          { plan: 'spec:c' },
        ),
      ).rejects.toThrow('the micro-batch failed');
      const r = await withGpuErrorScopes(() => microBatch(65_536), { plan: 'spec:c' });
      expect(r.large).toBe(65_536 * 5);
    });
  },
);

describe('the exact-size pool outside micro-batches (the optimizer: new weight tensors every step)', () => {
  it('hands back buffers of one size in the order they were freed, so each weight alternates between two', () => {
    let made = 0;
    const device = {
      createBuffer: (d: { size: number; usage: number }) => ({
        size: d.size,
        usage: d.usage,
        id: made++,
        destroy: () => undefined,
      }),
    };
    const p = new PlannedBufferPool(device);
    const usage = 0x80 | 0x8 | 0x4;
    // Three weights of one size (a DenseNet's conv biases): each step makes their new values in order,
    // then frees the old ones in order (at the submit after the update).
    let values = [0, 1, 2].map(() => p.acquireBuffer(128, usage));
    const history: number[][] = [];
    for (let step = 0; step < 6; step++) {
      const next = values.map(() => p.acquireBuffer(128, usage));
      values.forEach((b) => p.releaseBuffer(b));
      values = next;
      history.push(values.map((b) => (b as unknown as { id: number }).id));
    }
    expect(made).toBe(6);
    // From the second step on, a weight's buffer two steps ago is its buffer now: the bind groups
    // cached for it (raw-dispatch.ts) are found again.
    for (let s = 2; s < history.length; s++) expect(history[s]).toEqual(history[s - 2]);
  });
});
