import { describe, expect, it } from 'vitest';
import type { GpuAdapterReport, WorkerDescription } from '@tfjs-ddp/core';
import { checkGpusDistinct } from './gpu-assignment';

const h200 = (selection: string | null): GpuAdapterReport => ({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200', software: false, selection });
const lavapipe: GpuAdapterReport = { vendor: 'mesa', architecture: 'software', description: 'llvmpipe', software: true, selection: null };

function worker(rank: number, host: string, adapter: GpuAdapterReport | null): WorkerDescription {
  return { rank, pid: 100 + rank, host, backend: adapter === null ? 'wasm' : 'webgpu', device: adapter === null ? 'cpu' : 'gpu', adapter, params: 1, weightsHash: 'h', microBatch: 8, memoryFit: null, trainCount: 1, testCount: 1 };
}

describe('checkGpusDistinct', () => {
  it('accepts one rank per selected GPU, and ranks on different hosts with the same GPU', () => {
    expect(() => checkGpusDistinct([worker(0, 'a', h200('pci-0000_19_00_0!')), worker(1, 'a', h200('pci-0000_3b_00_0!'))], false)).not.toThrow();
    expect(() => checkGpusDistinct([worker(0, 'a', h200(null)), worker(1, 'b', h200(null))], false)).not.toThrow();
  });

  it('ignores ranks without an adapter (wasm, cpu, tensorflow)', () => {
    expect(() => checkGpusDistinct([worker(0, 'a', null), worker(1, 'a', null)], false)).not.toThrow();
  });

  it('names the two ranks and the cure when they share an adapter', () => {
    expect(() => checkGpusDistinct([worker(0, 'a', h200(null)), worker(1, 'a', h200(null))], false)).toThrow(/ranks 0 and 1 on a both run on the GPU adapter "NVIDIA H200" \(no Vulkan device selection was applied\).*mesa-vulkan-drivers.*--share-gpu/);
    expect(() => checkGpusDistinct([worker(0, 'a', h200('pci-0000_19_00_0!')), worker(1, 'a', h200('pci-0000_19_00_0!'))], false)).toThrow(/both were given pci-0000_19_00_0!/);
    expect(() => checkGpusDistinct([worker(0, 'a', lavapipe), worker(1, 'a', lavapipe)], false)).toThrow(/software adapter is one device for every process: pass --share-gpu/);
  });

  it('lets --share-gpu put several ranks on one adapter', () => {
    expect(() => checkGpusDistinct([worker(0, 'a', lavapipe), worker(1, 'a', lavapipe)], true)).not.toThrow();
  });
});
