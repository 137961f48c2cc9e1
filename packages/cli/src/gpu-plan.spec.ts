import { describe, expect, it } from 'vitest';
import { DEFAULT_TRAIN_CONFIG } from '@tfjs-ddp/core';
import { gpuEnv, gpuPlan, parseGpuList, vulkanSelection } from './groups';

const SMI = '0, 00000000:19:00.0\n1, 00000000:3B:00.0\n\n';
const gpus = parseGpuList(SMI);

describe('GPU plan of the local launcher', () => {
  it('reads the GPUs nvidia-smi lists, with their PCI addresses', () => {
    expect(gpus).toEqual([
      { index: 0, busId: '00000000:19:00.0' },
      { index: 1, busId: '00000000:3B:00.0' },
    ]);
    expect(parseGpuList('No devices were found\n')).toEqual([]);
  });

  it("turns a PCI address into Mesa device-select's exclusive selection", () => {
    expect(vulkanSelection('00000000:3B:00.0')).toBe('pci-0000_3b_00_0!');
    expect(vulkanSelection('0001:c1:00.1')).toBe('pci-0001_c1_00_1!');
    expect(() => vulkanSelection('GPU-1234')).toThrow(/not a PCI address/);
  });

  it('gives each GPU rank CUDA and Vulkan selection, for tensorflow-gpu, webgpu and auto alike', () => {
    for (const backend of ['auto', 'tensorflow-gpu', 'webgpu'] as const) {
      expect(gpuPlan({ ...DEFAULT_TRAIN_CONFIG, backend }, gpus)).toEqual(gpus);
    }
    expect(gpuEnv(gpus[1]!)).toEqual({ CUDA_VISIBLE_DEVICES: '1', TF_FORCE_GPU_ALLOW_GROWTH: 'true', DRI_PRIME: 'pci-0000_3b_00_0!' });
    expect(gpuPlan({ ...DEFAULT_TRAIN_CONFIG, backend: 'wasm' }, gpus)).toBeNull();
    expect(gpuPlan({ ...DEFAULT_TRAIN_CONFIG, backend: 'webgpu' }, [])).toBeNull();
  });

  it('keeps the order of --gpus and refuses an id nvidia-smi does not list', () => {
    expect(gpuPlan({ ...DEFAULT_TRAIN_CONFIG, gpus: [1, 0] }, gpus)).toEqual([gpus[1], gpus[0]]);
    expect(() => gpuPlan({ ...DEFAULT_TRAIN_CONFIG, gpus: [2] }, gpus)).toThrow(/--gpus 2: nvidia-smi lists no GPU 2 \(it lists 0, 1\)/);
    // Without nvidia-smi, --gpus still sets CUDA_VISIBLE_DEVICES (no PCI address: no Vulkan selection).
    expect(gpuEnv(gpuPlan({ ...DEFAULT_TRAIN_CONFIG, gpus: [3] }, [])![0]!)).toEqual({ CUDA_VISIBLE_DEVICES: '3', TF_FORCE_GPU_ALLOW_GROWTH: 'true' });
  });
});
