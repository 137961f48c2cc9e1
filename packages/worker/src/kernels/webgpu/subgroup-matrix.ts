// TFJS_DDP_WEBGPU_CONV: which conv programs the webgpu backend runs. `ours` (the default: our float32
// programs), `tfjs` (tfjs' Conv2DMMProgram for the forward conv, for a comparison on a GPU) or `mma`
// (the forward conv and both gradients on tensor cores through Dawn's experimental subgroup
// matrices: conv2d-mma-program.ts, conv2d-mma-filter-program.ts). `mma`
// needs an adapter that offers chromium-experimental-subgroup-matrix, which Dawn shows only with its
// allow_unsafe_apis toggle (openAdapter sets it for `mma` alone), subgroups, shader-f16, and an
// f16 → f32 matrix shape that tiles our program. Experimental: no GPU has run it yet (docs/kernels.md).
// `mma-fma` runs the same programs with their tile product as FMAs of the same f16 tiles, on any
// adapter with shader-f16: mma's numerics where there are no matrices (lavapipe), not its speed.
import { DdpError } from '@tfjs-ddp/core';
import { mmaShapeFits, type MmaShape } from './mma-tile';

export type WebGpuConv = 'ours' | 'tfjs' | 'mma' | 'mma-fma';

/** Which conv programs webgpu runs: ours (the default), tfjs' forward conv, or subgroup matrices (or their FMA variant). */
export function webGpuConvChoice(env: Record<string, string | undefined> = process.env): WebGpuConv {
  const v = env['TFJS_DDP_WEBGPU_CONV'];
  if (v === undefined || v === '' || v === 'ours') return 'ours';
  if (v === 'tfjs' || v === 'mma' || v === 'mma-fma') return v;
  throw new DdpError(
    'E_CONFIG',
    `TFJS_DDP_WEBGPU_CONV=${v}: expected "ours" (the default), "tfjs" (tfjs' own forward conv), "mma" (subgroup matrices, experimental) or "mma-fma" (mma's programs with FMA products, to check their numerics)`,
    'set TFJS_DDP_WEBGPU_CONV to one of those or unset it',
  );
}

/** Dawn's flag that shows the experimental features (chromium-experimental-subgroup-matrix). */
export const UNSAFE_APIS_FLAG = 'enable-dawn-features=allow_unsafe_apis';

/** GPUSubgroupMatrixConfig, as Dawn's adapter info lists them. */
export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

/** The shape our program takes from the adapter's: f16 in, f32 out, tiling it, the largest M·N·K. */
export function pickMmaShape(configs: readonly SubgroupMatrixConfig[]): MmaShape | null {
  const fits = configs
    .filter((c) => c.componentType === 'f16' && c.resultComponentType === 'f32')
    .map(({ M, N, K }) => ({ M, N, K }))
    .filter(mmaShapeFits)
    .sort((a, b) => b.M * b.N * b.K - a.M * a.N * a.K);
  return fits[0] ?? null;
}

export interface MmaSetup {
  /** The adapter's matrix shape; `'fma'` (mma-fma, the specs) runs the same programs with FMA products. */
  shape: MmaShape | 'fma';
  /** 4 subgroups of the adapter's largest subgroup size. */
  workgroupSize: number;
  /** The device features to ask for besides shader-f16, which activateWebGpu asks for wherever offered. */
  features: string[];
}

const FEATURES = ['subgroups', 'chromium-experimental-subgroup-matrix'];

/**
 * What TFJS_DDP_WEBGPU_CONV=mma needs of the adapter: the features to ask for, the matrix shape and
 * the workgroup size.
 * @throws DdpError E_GPU_UNAVAILABLE naming the adapter and what it lacks.
 */
export function mmaSetup(adapter: {
  features?: { has(name: string): boolean };
  info: {
    description: string;
    subgroupMaxSize?: number;
    subgroupMatrixConfigs?: readonly SubgroupMatrixConfig[];
  };
}): MmaSetup & { shape: MmaShape } {
  const missing = ['subgroups', 'shader-f16', 'chromium-experimental-subgroup-matrix'].filter(
    (f) => adapter.features?.has(f) !== true,
  );
  const configs = adapter.info.subgroupMatrixConfigs ?? [];
  const shape = pickMmaShape(configs);
  const size = adapter.info.subgroupMaxSize ?? 0;
  const lacks =
    missing.length > 0
      ? `does not offer ${missing.join(', ')}`
      : shape === null
        ? `offers no f16 → f32 subgroup matrix that tiles 32 × 16 × 32 (it offers ${configs.map((c) => `${c.componentType} → ${c.resultComponentType} ${c.M}×${c.N}×${c.K}`).join(', ') || 'none'})`
        : size < 1 || 64 % size !== 0
          ? `reports a largest subgroup size of ${size}, where the program needs one dividing 64`
          : null;
  if (lacks !== null || shape === null)
    throw new DdpError(
      'E_GPU_UNAVAILABLE',
      `TFJS_DDP_WEBGPU_CONV=mma, but the WebGPU adapter ${adapter.info.description} ${lacks ?? ''}`,
      'unset TFJS_DDP_WEBGPU_CONV to run our float32 convs',
    );
  return { shape, workgroupSize: 4 * size, features: FEATURES };
}

/** mma-fma's setup: a workgroup of 128, no feature but shader-f16. */
export const MMA_FMA_SETUP: MmaSetup = { shape: 'fma', workgroupSize: 128, features: [] };

/**
 * The setup of this process's device when it was created for `mma` or `mma-fma` (activateWebGpu
 * sets it, and shutdownWebGpu clears it): while set, our conv kernels (forward and both gradients)
 * run the subgroup-matrix programs.
 */
let active: MmaSetup | null = null;

export function setActiveMma(setup: MmaSetup | null): void {
  active = setup;
}

export function activeMma(): MmaSetup | null {
  return active;
}
