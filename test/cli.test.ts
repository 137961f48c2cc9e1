// The real `tfjs-ddp` binary (bin/tfjs-ddp.js → tsx → src/main.ts), spawned as a process: help on
// stdout with exit 0, an unknown command on stderr with exit 2.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const bin = 'packages/cli/bin/tfjs-ddp.js';

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function tfjsDdp(...args: string[]): Promise<Exit> {
  return tfjsDdpWith({}, ...args);
}

function tfjsDdpWith(env: Record<string, string>, ...args: string[]): Promise<Exit> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { cwd: repoRoot, timeout: 60_000, env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        // execFile's error carries the exit code; no error means 0.
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('the tfjs-ddp binary', () => {
  it('prints the command list and exits 0 for --help', async () => {
    const r = await tfjsDdp('--help');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: tfjs-ddp <command> [options]');
    expect(r.stdout).toMatch(/^ {2}info +Show the backend, dataset and model/m);
  });

  it('exits 2 for an unknown command, naming it on stderr and pointing to --help', async () => {
    const r = await tfjsDdp('bogus-command');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^tfjs-ddp: E_USAGE: unknown command 'bogus-command' .*run 'tfjs-ddp --help'/);
  });

  it('info says whose convolutions the wasm backend runs: oneDNN when its addon is built, else why not', async () => {
    const built = existsSync(
      fileURLToPath(new URL('../packages/worker/native/build/dnnl_conv.node', import.meta.url)),
    );
    const off = await tfjsDdpWith({ TFJS_DDP_CPU_KERNELS: 'wasm' }, 'info', '--backend', 'wasm');
    expect(off.code, off.stderr).toBe(0);
    expect(off.stdout).toMatch(/^native: +none, wasm's own kernels \(TFJS_DDP_CPU_KERNELS=wasm\); WebAssembly SIMD: DdpBatchNormTrain, DdpBatchNormGrad, DdpBatchNormTrainParts, DdpBatchNormGradParts, Conv2DBackpropFilter, DdpMaxPoolZeroPad, DdpMaxPoolZeroPadGrad, AvgPoolGrad, SplitV, Concat, Sum$/m);
    const on = await tfjsDdpWith({ TFJS_DDP_CPU_KERNELS: '' }, 'info', '--backend', 'wasm', '--json');
    expect(on.code, on.stderr).toBe(0);
    const native = (
      JSON.parse(on.stdout) as {
        backend: { native_kernels: { provider: string; why: string; kernels: string[] } };
      }
    ).backend.native_kernels;
    if (built) {
      expect(native).toEqual({
        provider: 'onednn',
        why: expect.stringMatching(/^oneDNN \d+\.\d+\.\d+, 1 thread$/),
        kernels: ['Conv2D', 'FusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'DdpConv2DBackpropFilterBias', 'DdpBatchNormTrain', 'DdpBatchNormGrad', 'DdpBatchNormTrainParts', 'DdpBatchNormGradParts', 'SplitV', 'Slice', 'Concat', 'MaxPoolGrad', 'DdpMaxPoolZeroPad', 'DdpMaxPoolZeroPadGrad', 'AvgPoolGrad', 'Sum', 'Add', 'Equal', 'PadV2'],
        simd: [],
      });
    } else {
      expect(native).toMatchObject({
        provider: 'builtin',
        why: expect.stringMatching(/dnnl_conv\.node did not load/),
      });
    }
  }, 120_000);
});
