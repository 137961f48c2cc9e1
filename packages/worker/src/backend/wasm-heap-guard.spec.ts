// A wasm tensor allocation that cannot fit must fail loudly, not write at address 0 (what the stock
// backend does: its allocator returns 0 when the heap cannot grow). Fills the 4 GiB heap for real.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { isBackendCorrupted } from '../engine/worker-engine';
import { selectBackend, wasmHeapBytes } from './select-backend';

describe('the wasm heap guard', () => {
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
