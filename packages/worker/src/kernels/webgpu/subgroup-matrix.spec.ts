// TFJS_DDP_WEBGPU_CONV: its values, the subgroup-matrix shape taken from an adapter's configs, and
// the errors where an adapter lacks what mma needs. No GPU: the adapters are described here.
import { DdpError } from '@tfjs-ddp/core';
import { describe, expect, it } from 'vitest';
import { mmaSetup, pickMmaShape, type SubgroupMatrixConfig } from './subgroup-matrix';

const cfg = (
  componentType: string,
  resultComponentType: string,
  M: number,
  N: number,
  K: number,
): SubgroupMatrixConfig => ({
  componentType,
  resultComponentType,
  M,
  N,
  K,
});

describe('subgroup matrix shapes', () => {
  it('takes the largest f16 → f32 shape that tiles the program, and none where none does', () => {
    expect(
      pickMmaShape([
        cfg('f16', 'f16', 16, 16, 16),
        cfg('f16', 'f32', 16, 8, 16),
        cfg('f16', 'f32', 16, 16, 16),
      ]),
    ).toEqual({
      M: 16,
      N: 16,
      K: 16,
    });
    expect(pickMmaShape([cfg('f32', 'f32', 8, 8, 8), cfg('f16', 'f32', 8, 8, 8)])).toEqual({
      M: 8,
      N: 8,
      K: 8,
    });
    // N = 32 does not fit a subgroup's 16 channels; u8 and f16 results are not ours.
    expect(
      pickMmaShape([
        cfg('f16', 'f32', 32, 32, 16),
        cfg('u8', 'u32', 16, 16, 32),
        cfg('f16', 'f16', 16, 16, 16),
      ]),
    ).toBeNull();
    expect(pickMmaShape([])).toBeNull();
  });

  it('names the adapter and what it lacks when TFJS_DDP_WEBGPU_CONV=mma cannot run on it', () => {
    const has = (names: string[]) => ({ has: (n: string) => names.includes(n) });
    const all = ['subgroups', 'shader-f16', 'chromium-experimental-subgroup-matrix'];
    const info = (configs: SubgroupMatrixConfig[], size = 32) => ({
      description: 'GPU X',
      subgroupMaxSize: size,
      subgroupMatrixConfigs: configs,
    });
    const error = (f: () => unknown): DdpError => {
      try {
        f();
      } catch (e) {
        return e as DdpError;
      }
      throw new Error('no error');
    };
    const lavapipe = error(() => mmaSetup({ features: has(['subgroups', 'shader-f16']), info: info([]) }));
    expect(lavapipe).toBeInstanceOf(DdpError);
    expect(lavapipe.code).toBe('E_GPU_UNAVAILABLE');
    expect(lavapipe.message).toMatch(/adapter GPU X does not offer chromium-experimental-subgroup-matrix/);
    expect(lavapipe.hint).toMatch(/unset TFJS_DDP_WEBGPU_CONV/);
    expect(
      error(() =>
        mmaSetup({ features: has(['subgroups', 'chromium-experimental-subgroup-matrix']), info: info([]) }),
      ).message,
    ).toMatch(/adapter GPU X does not offer shader-f16;/);
    expect(
      error(() => mmaSetup({ features: has(all), info: info([cfg('f16', 'f16', 16, 16, 16)]) })).message,
    ).toMatch(/no f16 → f32 subgroup matrix .* \(it offers f16 → f16 16×16×16\)/);
    expect(
      error(() => mmaSetup({ features: has(all), info: info([cfg('f16', 'f32', 16, 16, 16)], 128) })).message,
    ).toMatch(/largest subgroup size of 128/);
    expect(mmaSetup({ features: has(all), info: info([cfg('f16', 'f32', 16, 16, 16)]) })).toEqual({
      shape: { M: 16, N: 16, K: 16 },
      workgroupSize: 128,
      // shader-f16 is asked for by activateWebGpu wherever the adapter offers it (f16.ts).
      features: ['subgroups', 'chromium-experimental-subgroup-matrix'],
    });
  });
});
