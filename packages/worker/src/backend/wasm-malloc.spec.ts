// The wrapped wasm allocator (wasm-malloc.ts). A wasm tensor allocation that cannot fit must fail
// loudly, not write at address 0 (what the stock backend does: its allocator returns 0 when the
// heap cannot grow); fills the 4 GiB heap for real. Every tensor starts on a 64-byte boundary, and
// freeing what it handed out returns the memory.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { isBackendCorrupted } from '../engine/memory-errors';
import { selectBackend, wasmHeapBytes } from './select-backend';
import { WASM_TENSOR_ALIGN } from './wasm-malloc';

describe('the wasm heap guard', () => {
  it('hands out 64-byte-aligned tensors and frees them for reuse', async () => {
    await selectBackend('wasm');
    const backend = tf.backend() as unknown as { getMemoryOffset(id: object): number };
    const offsets = (ts: tf.Tensor[]) => ts.map((t) => backend.getMemoryOffset(t.dataId));
    // Odd sizes, so that emscripten's 8-byte alignment alone would land off the boundary.
    const sizes = [1, 3, 5, 7, 13, 1001, 4099, 65_537];
    const first = sizes.map((n) => tf.ones([n]));
    expect(offsets(first).map((o) => o % WASM_TENSOR_ALIGN)).toEqual(sizes.map(() => 0));
    expect(await tf.sum(first[6]!).data()).toEqual(new Float32Array([4099]));
    tf.dispose(sizes.map((n) => tf.zeros([n * 64])));
    const heap = wasmHeapBytes();
    for (let round = 0; round < 50; round++) tf.dispose(sizes.map((n) => tf.zeros([n * 64])));
    expect(wasmHeapBytes()).toBe(heap);
    tf.dispose(first);
  });

  it('throws "wasm heap exhausted" at the first allocation the heap cannot hold', async () => {
    await selectBackend('wasm');
    const kept: tf.Tensor[] = [];
    let err: unknown = null;
    try {
      for (let i = 0; i < 8 && err === null; i++) {
        try {
          kept.push(tf.zeros([256 * 2 ** 20])); // 1 GiB each: at most four fit under 4 GiB
        } catch (e) {
          err = e;
        }
      }
      expect(kept.length).toBeGreaterThanOrEqual(3);
      expect(kept.length).toBeLessThanOrEqual(4);
      expect(String(err)).toMatch(/wasm heap exhausted: allocating 1073741824 bytes failed/);
      expect(isBackendCorrupted(err)).toBe(true);
      expect(wasmHeapBytes()).toBeGreaterThan(3 * 2 ** 30);
    } finally {
      tf.dispose(kept);
    }
  }, 60_000);
});
