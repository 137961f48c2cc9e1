// cached-dispatch.ts: tfjs' own programs with uniform buffers made once per content and bind groups
// once per pipeline and buffers. The uniform layout is tfjs' (checked on a hand-laid case), a
// repeated op makes neither anew, another shape makes a uniform buffer, and results stay right;
// host values of each dtype go up without a mapped staging buffer (installDirectUploads).
// Without a WebGPU adapter the webgpu suite fails, unless TFJS_DDP_SKIP_WEBGPU=1.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateWebGpu, shutdownWebGpu } from '../../backend/webgpu';
import { uniformBytes, webGpuSubmitEvery } from './cached-dispatch';

const skip = process.env['TFJS_DDP_SKIP_WEBGPU'] === '1';

describe('webGpuSubmitEvery', () => {
  it('reads TFJS_DDP_WEBGPU_SUBMIT_EVERY as a whole number from 1 to 100000, and refuses anything else', () => {
    expect(webGpuSubmitEvery({})).toBeNull();
    expect(webGpuSubmitEvery({ TFJS_DDP_WEBGPU_SUBMIT_EVERY: '' })).toBeNull();
    expect(webGpuSubmitEvery({ TFJS_DDP_WEBGPU_SUBMIT_EVERY: '60' })).toBe(60);
    expect(webGpuSubmitEvery({ TFJS_DDP_WEBGPU_SUBMIT_EVERY: '100000' })).toBe(100000);
    for (const v of ['0', '-3', '1.5', '1e3', 'x', ' 60', '100001']) {
      expect(() => webGpuSubmitEvery({ TFJS_DDP_WEBGPU_SUBMIT_EVERY: v }), v).toThrow(
        /E_CONFIG|not a whole number/,
      );
    }
  });
});

describe('uniformBytes', () => {
  it("lays uniforms out as tfjs' makeUniforms does (WGSL alignment, 16 after a 5- or 6-vector)", () => {
    const bytes = uniformBytes([
      { type: 'float32', data: [1.5] },
      { type: 'int32', data: [2, 3] },
      { type: 'int32', data: [4, 5, 6] },
      { type: 'int32', data: [7, 8, 9, 10, 11] },
      { type: 'uint32', data: [12] },
      { type: 'int32', data: [] },
    ]);
    // 0: 1.5 | 8: 2, 3 | 16: 4, 5, 6 | 32: 7…11 | 64: 12 (after a 5-vector) | 68: the empty one as [1]; 80 in all.
    expect(bytes.byteLength).toBe(80);
    expect(new Float32Array(bytes, 0, 1)[0]).toBe(1.5);
    const ints = new Int32Array(bytes);
    expect([ints[2], ints[3], ints[4], ints[5], ints[6]]).toEqual([2, 3, 4, 5, 6]);
    expect(Array.from(ints.subarray(8, 13))).toEqual([7, 8, 9, 10, 11]);
    expect([ints[16], ints[17]]).toEqual([12, 1]);
  });
});

(skip ? describe.skip : describe)(
  skip ? 'cached dispatch (skipped: TFJS_DDP_SKIP_WEBGPU=1)' : 'cached dispatch',
  () => {
    beforeAll(async () => {
      await activateWebGpu({ allowSoftware: true });
      // Small tensors still on the host would run on tfjs' cpu kernels, not through a dispatch.
      tf.env().set('WEBGPU_CPU_FORWARD', false);
    }, 60_000);
    afterAll(() => {
      tf.env().set('WEBGPU_CPU_FORWARD', true);
      shutdownWebGpu();
    });

    /** Counts the bind groups and buffers `f` makes on the device. */
    async function made<T>(f: () => Promise<T>): Promise<{ result: T; bindGroups: number; buffers: number }> {
      const device = (tf.backend() as unknown as { device: Record<string, (...a: unknown[]) => unknown> })
        .device;
      const [group, buffer] = [device['createBindGroup']!, device['createBuffer']!];
      let [bindGroups, buffers] = [0, 0];
      device['createBindGroup'] = (...a) => (bindGroups++, group.apply(device, a));
      device['createBuffer'] = (...a) => (buffers++, buffer.apply(device, a));
      try {
        return { result: await f(), bindGroups, buffers };
      } finally {
        device['createBindGroup'] = group;
        device['createBuffer'] = buffer;
      }
    }

    it('uploads host values of each dtype without a mapped staging buffer', async () => {
      const device = (tf.backend() as unknown as { device: Record<string, (...a: unknown[]) => unknown> })
        .device;
      const create = device['createBuffer']!;
      const usages: number[] = [];
      device['createBuffer'] = (...a) => (
        usages.push((a[0] as { usage: number }).usage),
        create.apply(device, a)
      );
      try {
        for (let round = 0; round < 2; round++) {
          const f = tf.tensor1d([1.5, -2, 3e-8, 7]);
          const i = tf.tensor1d([3, -4, 5, 2 ** 30], 'int32');
          const b = tf.tensor1d([true, false, true, true], 'bool');
          const y = tf.tidy(() =>
            tf.stack([tf.mul(f, 2), tf.cast(tf.add(i, 1), 'float32'), tf.cast(b, 'float32')]),
          );
          expect(Array.from(await y.data())).toEqual(
            [3, -4, 6e-8, 14, 4, -3, 6, 2 ** 30 + 1, 1, 0, 1, 1].map(Math.fround),
          );
          tf.dispose([f, i, b, y]);
        }
      } finally {
        device['createBuffer'] = create;
      }
      // GPUBufferUsage.MAP_WRITE: tfjs' staging for an upload into a reused buffer.
      expect(usages.filter((u) => (u & 0x2) !== 0)).toEqual([]);
    });

    it('makes no bind group or uniform buffer for a repeated op, and computes what tfjs computes', async () => {
      const a = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
      const b = tf.tensor2d([10, 20, 30], [1, 3]);
      const run = async () => {
        const y = tf.tidy(() => tf.sub(tf.mul(a, b), tf.transpose(tf.transpose(a))));
        const v = Array.from(await y.data());
        y.dispose();
        return v;
      };
      const first = await made(run);
      expect(first.result).toEqual([9, 38, 87, 36, 95, 174]);
      const again = await made(run);
      expect(again.result).toEqual(first.result);
      expect(again.bindGroups).toBe(0);
      // The readback's staging buffer is the only one made (tfjs' pool holds the rest).
      expect(again.buffers).toBeLessThanOrEqual(1);
      // Another shape: new uniforms (a buffer of their own), the same results as the cpu's loops.
      const c = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8], [4, 2]);
      const other = await made(async () => {
        const y = tf.tidy(() => tf.mul(tf.transpose(c), 2));
        const v = Array.from(await y.data());
        y.dispose();
        return v;
      });
      expect(other.result).toEqual([2, 6, 10, 14, 4, 8, 12, 16]);
      expect(other.bindGroups).toBeGreaterThan(0);
      tf.dispose([a, b, c]);
    });
  },
);
