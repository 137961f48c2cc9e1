// raw-dispatch.ts on webgpu: a program with two outputs in one dispatch, its pipeline compiled once,
// its bind group and uniform buffer made once for the same buffers and uniforms and anew when either
// changes (the fold past 65,535 workgroups is in batch-norm-webgpu.spec.ts). Without a WebGPU adapter
// the suite fails, unless TFJS_DDP_SKIP_WEBGPU=1.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateWebGpu, shutdownWebGpu } from '../../backend/webgpu';
import { countDispatches } from './count-dispatches';
import { memoized, rawIndex, rawRecorder, rawWorkgroups, type RawProgram } from './raw-dispatch';

const skip = process.env['TFJS_DDP_SKIP_WEBGPU'] === '1';

/** sum = a + b·k and diff = a − b·k, one invocation per element. */
function twoOutputs(n: number): RawProgram {
  return {
    key: 'rawDispatchSpecTwoOutputs',
    workgroups: rawWorkgroups(n, 64),
    code: () => `struct Uniforms { n : i32, k : f32, };
@group(0) @binding(0) var<storage, read> a : array<f32>;
@group(0) @binding(1) var<storage, read> b : array<f32>;
@group(0) @binding(2) var<storage, read_write> sum : array<f32>;
@group(0) @binding(3) var<storage, read_write> diff : array<f32>;
@group(0) @binding(4) var<uniform> u : Uniforms;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>) {
  let i = ${rawIndex(64)};
  if (i >= u.n) { return; }
  sum[i] = a[i] + b[i] * u.k;
  diff[i] = a[i] - b[i] * u.k;
}`,
  };
}

(skip ? describe.skip : describe)(
  skip ? 'raw dispatch (skipped: TFJS_DDP_SKIP_WEBGPU=1)' : 'raw dispatch',
  () => {
    beforeAll(async () => {
      await activateWebGpu({ allowSoftware: true });
    }, 60_000);
    afterAll(() => shutdownWebGpu());

    it('writes two outputs in one dispatch, and makes a bind group and a uniform buffer only for what it has not seen', async () => {
      const backend = tf.backend() as unknown as { device: Record<string, (...a: unknown[]) => unknown> };
      const counts = { createBindGroup: 0, createBuffer: 0, createComputePipeline: 0 };
      const originals = Object.fromEntries(Object.keys(counts).map((k) => [k, backend.device[k]!]));
      for (const k of Object.keys(counts) as (keyof typeof counts)[]) {
        backend.device[k] = function (this: unknown, ...a: unknown[]) {
          counts[k]++;
          return originals[k]!.apply(this, a);
        };
      }
      try {
        const [a, b] = [tf.tensor1d([1, 2, 3]), tf.tensor1d([10, 20, 30])];
        const outs = [rawRecorder.output(tf.backend(), [3]), rawRecorder.output(tf.backend(), [3])];
        const run = (k: number) =>
          countDispatches(() =>
            rawRecorder.record(
              tf.backend(),
              twoOutputs(3),
              [a, b, ...outs],
              [
                { type: 'int32', data: [3] },
                { type: 'float32', data: [k] },
              ],
            ),
          );
        const seen: (typeof counts)[] = [];
        for (const k of [2, 2, 3, 2]) {
          expect((await run(k)).dispatches).toBe(1);
          seen.push({ ...counts });
        }
        // First: a pipeline and a bind group (and buffers: the inputs' upload, a uniform buffer). Same
        // again: nothing new. k = 3: a uniform buffer and a bind group. k = 2 again: both found.
        const first = seen[0]!;
        expect([first.createComputePipeline, first.createBindGroup]).toEqual([1, 1]);
        expect(
          seen.map((c) => [c.createComputePipeline, c.createBuffer - first.createBuffer, c.createBindGroup]),
        ).toEqual([
          [1, 0, 1],
          [1, 0, 1],
          [1, 1, 2],
          [1, 1, 2],
        ]);
        const [sum, diff] = outs.map((t) => tf.engine().makeTensorFromTensorInfo(t));
        expect(Array.from(await sum!.data())).toEqual([21, 42, 63]);
        expect(Array.from(await diff!.data())).toEqual([-19, -38, -57]);
        tf.dispose([a, b, sum!, diff!]);
      } finally {
        Object.assign(backend.device, originals);
      }
    });
  },
);

describe('memoized', () => {
  it('builds once per distinct arguments and hands the same result back', () => {
    let builds = 0;
    const build = memoized((rows: number, group: { offset: number; channels: number[] }, relu: boolean) => ({
      n: ++builds,
      key: `${rows}/${group.offset}/${group.channels.join(',')}/${relu}`,
    }));
    const a = build(8, { offset: 0, channels: [4, 8] }, true);
    expect(build(8, { offset: 0, channels: [4, 8] }, true)).toBe(a);
    expect(builds).toBe(1);
    expect(build(8, { offset: 0, channels: [4, 12] }, true).n).toBe(2);
    expect(build(8, { offset: 0, channels: [4, 8] }, false).n).toBe(3);
    expect(build(16, { offset: 0, channels: [4, 8] }, true).n).toBe(4);
    expect(build(8, { offset: 0, channels: [4, 8] }, true)).toBe(a);
    expect(builds).toBe(4);
  });
});
