// TFJS_DDP_WEBGPU_CONV=mma's programs on Dawn's null backend (no GPU, no Vulkan: it validates and
// compiles WGSL, and runs nothing): the pipeline of every variant builds for the matrix shapes GPUs
// report. That is what CI can check of the matrix instructions themselves; their numbers come only
// from a GPU (the GPU check), and the rest of the program runs on lavapipe in
// conv2d-mma-webgpu.spec.ts.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conv2dMmaFilterProgram } from './conv2d-mma-filter-program';
import { conv2dMmaProgram } from './conv2d-mma-program';
import type { MmaShape } from './mma-tile';
import { UNSAFE_APIS_FLAG } from './subgroup-matrix';

describe("the subgroup-matrix program on Dawn's null backend", () => {
  interface NullDevice {
    createShaderModule(d: { code: string }): unknown;
    createComputePipeline(d: { layout: 'auto'; compute: { module: unknown; entryPoint: string } }): unknown;
    pushErrorScope(f: 'validation'): void;
    popErrorScope(): Promise<{ message: string } | null>;
    destroy(): void;
  }
  let device: NullDevice;
  // The Dawn instance stays referenced while its device is used: collected by the garbage collector
  // mid-run, it crashed the process (a pthread mutex assertion inside Dawn), as openAdapter's
  // instances are kept (backend/webgpu.ts).
  const instances: unknown[] = [];
  beforeAll(async () => {
    const { create, globals } = (await import('webgpu')) as unknown as {
      create(flags: string[]): {
        requestAdapter(): Promise<{ requestDevice(d: object): Promise<NullDevice> } | null>;
      };
      globals: object;
    };
    Object.assign(globalThis, globals);
    const gpu = create(['backend=null', UNSAFE_APIS_FLAG]);
    instances.push(gpu);
    const adapter = await gpu.requestAdapter();
    expect(adapter).not.toBeNull();
    device = await adapter!.requestDevice({
      requiredFeatures: ['subgroups', 'shader-f16', 'chromium-experimental-subgroup-matrix'],
    });
  }, 60_000);
  afterAll(() => device?.destroy());

  const shapes: MmaShape[] = [
    { M: 16, N: 16, K: 16 },
    { M: 16, N: 8, K: 16 },
    { M: 8, N: 8, K: 8 },
    { M: 32, N: 8, K: 16 },
  ];
  const layers = [
    { name: 'stem (Ci = 1)', x: [2, 38, 38, 1], filter: [7, 7, 1, 64], strides: 2, pad: 'valid' as const },
    { name: '3×3 vec4', x: [2, 8, 8, 160], filter: [3, 3, 160, 32], strides: 1, pad: 'same' as const },
  ];
  it.each(
    shapes.flatMap((s) =>
      layers.flatMap((l) =>
        (['bias and ReLU', 'plain', ...(l.x[3]! % 4 === 0 ? ['input gradient'] : [])] as const).map(
          (variant) => [`${s.M}×${s.N}×${s.K}`, l.name, variant, s, l] as const,
        ),
      ),
    ),
  )(
    '%s, %s, %s: a valid pipeline, with the matrix instructions in it',
    async (_s, _l, variant, shape, l) => {
      const bias = variant === 'bias and ReLU';
      const info = tf.backend_util.computeConv2DInfo(
        l.x as [number, number, number, number],
        l.filter as [number, number, number, number],
        l.strides,
        1,
        l.pad,
      );
      const { program } = conv2dMmaProgram(info, {
        bias,
        relu: bias,
        inner: shape,
        workgroupSize: 128,
        gradient: variant === 'input gradient',
      });
      const code = program.code();
      expect(code).toMatch(/subgroupMatrixMultiplyAccumulate/);
      expect(code).toMatch(new RegExp(`subgroup_matrix_left<f16, ${shape.K}, ${shape.M}>`));
      device.pushErrorScope('validation');
      const module = device.createShaderModule({ code });
      device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      expect((await device.popErrorScope())?.message).toBeUndefined();
    },
    30_000,
  );

  it.each(shapes.flatMap((s) => [true, false].map((bias) => [`${s.M}×${s.N}×${s.K}`, bias, s] as const)))(
    'the filter gradient, %s, bias %s: a valid pipeline, with the matrix instructions in it',
    async (_s, bias, shape) => {
      const info = tf.backend_util.computeConv2DInfo([2, 8, 8, 160], [3, 3, 160, 32], 1, 1, 'same');
      const { program, reduce } = conv2dMmaFilterProgram(info, { bias, inner: shape, workgroupSize: 128 });
      const code = program.code();
      expect(code).toMatch(/subgroupMatrixMultiplyAccumulate/);
      device.pushErrorScope('validation');
      for (const c of [code, reduce.program.code()]) {
        const module = device.createShaderModule({ code: c });
        device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      }
      expect((await device.popErrorScope())?.message).toBeUndefined();
    },
    30_000,
  );

  it('rejects a shape that does not tile it', () => {
    const info = tf.backend_util.computeConv2DInfo([1, 4, 4, 4], [1, 1, 4, 4], 1, 1, 'valid');
    expect(() =>
      conv2dMmaProgram(info, {
        bias: false,
        relu: false,
        inner: { M: 16, N: 32, K: 16 },
        workgroupSize: 128,
      }),
    ).toThrow(/do not tile/);
  });
});
