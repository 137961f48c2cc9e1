// Loading the oneDNN addon: the one-line fallback when it is absent (from the loader, from
// registerFastKernels and from its build script), and, when it is built, what it runs in a child
// process with ONEDNN_VERBOSE=1: no reference implementation at the DenseNet's batch-64 shapes, and
// one thread. Without the addon those skip, saying why, except in CI (dnnl-test-gate.ts).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { denseNetCases } from '../conv-cases';
import { nativeKernels, registerFastKernels } from '../fast-kernels';
import { DNNL_ADDON, loadDnnl } from './dnnl-addon';
import { dnnlForSpecs } from './dnnl-test-gate';
import { dnnlGeometry } from './dnnl-kernels';

const BUILD = fileURLToPath(new URL('../../../native/build.mjs', import.meta.url));
const ABSENT = '/nonexistent/dnnl_conv.node';

describe('without the oneDNN addon', () => {
  it('the loader says in one line that the wasm kernels run, and how to get the native ones', () => {
    const { binding, why } = loadDnnl({}, ABSENT);
    expect(binding).toBeUndefined();
    expect(why).toMatch(
      /^\/nonexistent\/dnnl_conv\.node did not load \(.*\); install g\+\+ and libdnnl-dev .*npm run build:native/,
    );
    expect(why).not.toContain('\n');
  });

  it('TFJS_DDP_NATIVE=1 and TFJS_DDP_CPU_KERNELS=dnnl make a missing addon an error', () => {
    expect(() => loadDnnl({ TFJS_DDP_NATIVE: '1' }, ABSENT)).toThrow(
      /E_CONFIG: TFJS_DDP_NATIVE=1 but \/nonexistent/,
    );
    expect(() => loadDnnl({ TFJS_DDP_CPU_KERNELS: 'dnnl' }, ABSENT)).toThrow(
      /E_CONFIG: TFJS_DDP_CPU_KERNELS=dnnl but/,
    );
  });

  it('TFJS_DDP_CPU_KERNELS=wasm turns it off and an unknown value is a config error', () => {
    expect(loadDnnl({ TFJS_DDP_CPU_KERNELS: 'wasm' }, DNNL_ADDON)).toEqual({
      binding: undefined,
      why: 'TFJS_DDP_CPU_KERNELS=wasm',
    });
    expect(() => loadDnnl({ TFJS_DDP_CPU_KERNELS: 'mkl' })).toThrow(
      /E_CONFIG: TFJS_DDP_CPU_KERNELS is "mkl", expected wasm or dnnl/,
    );
  });

  it('registerFastKernels keeps the wasm convolutions and records why', async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    const names = registerFastKernels('wasm', { native: () => loadDnnl({}, ABSENT) });
    expect(names).toEqual(['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'MaxPoolGrad', 'DdpMaxPoolZeroPad', 'DdpMaxPoolZeroPadGrad', 'DdpBatchNormTrain', 'DdpBatchNormGrad', 'DdpBatchNormTrainParts', 'DdpBatchNormGradParts', 'Identity', 'AvgPoolGrad', 'SplitV', 'Concat', 'Sum']);
    expect(nativeKernels('wasm')).toMatchObject({
      provider: 'builtin',
      kernels: [],
      why: expect.stringMatching(/did not load/),
      simd: ['DdpBatchNormTrain', 'DdpBatchNormGrad', 'DdpBatchNormTrainParts', 'DdpBatchNormGradParts', 'Conv2DBackpropFilter', 'DdpMaxPoolZeroPad', 'DdpMaxPoolZeroPadGrad', 'AvgPoolGrad', 'SplitV', 'Concat', 'Sum'],
    });
  });

  it.each([
    [
      '',
      0,
      /^tfjs-ddp: native oneDNN convolutions not built: oneDNN's headers are not in \/nonexistent \(libdnnl-dev\); convolutions run on the wasm kernels/,
    ],
    [
      '1',
      1,
      /^tfjs-ddp: cannot build the native oneDNN convolutions: oneDNN's headers are not in \/nonexistent/,
    ],
  ])(
    'the build script without oneDNN headers (TFJS_DDP_NATIVE=%j) exits %i with one line',
    (native, status, line) => {
      const env = { ...process.env, TFJS_DDP_DNNL_INCLUDE: '/nonexistent', TFJS_DDP_NATIVE: native };
      const r = spawnSync(process.execPath, [BUILD, '--optional', '--force'], { env, encoding: 'utf8' });
      expect(r.status).toBe(status);
      expect((r.stdout + r.stderr).trim().split('\n')[0]).toMatch(line);
    },
  );
});

const { load, skip } = dnnlForSpecs('dnnl-addon.spec');

// Runs every DenseNet conv (batch 64) forward with bias, backward-data and backward-weights (with the
// bias gradient) twice on zeroed buffers, then reports threads before and after, and CPU and wall
// time of the second pass.
const CHILD = `
const a = require(process.env.DNNL_ADDON);
const geoms = JSON.parse(process.env.DNNL_GEOMS);
const tasks = () => require('fs').readdirSync('/proc/self/task').length;
const before = tasks();
let cpu = 0, wall = 0;
for (let pass = 0; pass < 2; pass++) {
  const c0 = process.cpuUsage(), w0 = performance.now();
  for (const g of geoms) {
    const [N, H, W, Ci, KH, KW, Co, OH, OW] = g;
    const bytes = [N * H * W * Ci, KH * KW * Ci * Co, N * OH * OW * Co, Co].map((n) => n * 4);
    const at = bytes.map((_, i) => bytes.slice(0, i).reduce((s, b) => s + b, 0));
    const heap = new ArrayBuffer(at[3] + bytes[3]);
    const geom = Int32Array.from(g);
    a.conv(0, heap, Float64Array.from(at), geom);
    a.conv(1, heap, Float64Array.from([at[2], at[1], at[0]]), geom);
    a.conv(2, heap, Float64Array.from([at[0], at[2], at[1], at[3]]), geom);
  }
  const c = process.cpuUsage(c0);
  cpu = (c.user + c.system) / 1000; wall = performance.now() - w0;
}
console.log(JSON.stringify({ before, after: tasks(), cpu, wall, threads: a.threads, stats: a.stats() }));
`;

describe.skipIf(skip)('the oneDNN addon, in a child with ONEDNN_VERBOSE=1', () => {
  it('runs the DenseNet convs on no reference implementation, on one thread', () => {
    expect(load.binding, `CI needs the oneDNN addon: ${load.why}`).toBeDefined();
    const geoms = denseNetCases(64).map((c) => [
      ...dnnlGeometry(tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad), true, false),
    ]);
    const env = { ...process.env, ONEDNN_VERBOSE: '1', DNNL_ADDON, DNNL_GEOMS: JSON.stringify(geoms) };
    const r = spawnSync(process.execPath, ['-e', CHILD], { env, encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    const convs = lines
      .filter((l) => l.startsWith('onednn_verbose,exec,cpu,convolution,'))
      .map((l) => l.split(',')[4]!);
    const impls = new Map<string, number>();
    for (const impl of convs) impls.set(impl, (impls.get(impl) ?? 0) + 1);
    const refs = convs.filter((impl) => impl.startsWith('ref'));
    const run = JSON.parse(lines.at(-1)!) as {
      before: number;
      after: number;
      cpu: number;
      wall: number;
      threads: number;
      stats: { primitives: number; scratchpadBytes: number; weightBytes: number };
    };
    console.log(
      `oneDNN verbose: ${convs.length} convolution executions, ${refs.length} ref: ${[...impls].map(([k, n]) => `${k} ×${n}`).join(', ')}; ` +
        `threads ${run.before} → ${run.after}, second pass ${run.cpu.toFixed(0)} ms CPU in ${run.wall.toFixed(0)} ms; ` +
        `${run.stats.primitives} primitives, scratchpad ${(run.stats.scratchpadBytes / 2 ** 20).toFixed(1)} MiB, ` +
        `reordered filters ${(run.stats.weightBytes / 2 ** 20).toFixed(2)} MiB`,
    );
    expect(convs).toHaveLength(geoms.length * 3 * 2);
    expect(refs).toEqual([]);
    // Cached by shape: the second pass made no primitive.
    expect(run.stats.primitives).toBe(geoms.length * 3);
    expect(run.threads).toBe(1);
    // OpenMP would start its pool threads at the first parallel region; CPU time over wall time
    // near 1 (not 2 on this 2-core machine) says only one core ran the convs.
    expect(run.after).toBe(run.before);
    expect(run.cpu / run.wall).toBeLessThan(1.3);
  });
});
