import { isDdpError } from '@tfjs-ddp/core';
import { describe, expect, it } from 'vitest';
import { isBackendCorrupted, isOutOfMemoryError } from '../engine/memory-errors';
import { parseInjectOom } from '../engine/worker-engine';
import { defaultProbes } from './fit-micro-batch';
import { isSoftwareAdapter } from '../backend/webgpu';
import { GPU_DEVICE_LOST, GPU_OUT_OF_MEMORY } from '../backend/webgpu-scopes';
import { memoryBudget, parseGpuMemory, parseGpuProcessMemory, WASM_HEAP_MAX } from './memory-probe';

describe('memory probe', () => {
  it("reads this process's GPU memory from nvidia-smi's compute-apps CSV (summed over devices)", () => {
    const csv = '1234, 2048\n999, 100\n1234, 512\n';
    expect(parseGpuProcessMemory(csv, 1234)).toBe((2048 + 512) * 2 ** 20);
    expect(parseGpuProcessMemory(csv, 42)).toBeNull();
    expect(parseGpuProcessMemory('', 1234)).toBeNull();
  });

  it('budgets: the wasm heap cap, capped by --memory-budget; cpu needs no device', () => {
    expect(memoryBudget('wasm', null)).toBe(WASM_HEAP_MAX);
    expect(memoryBudget('wasm', 2 ** 30)).toBe(2 ** 30);
    expect(memoryBudget('wasm', 2 ** 40)).toBe(WASM_HEAP_MAX);
    expect(memoryBudget('cpu', 5e9)).toBe(5e9);
    expect(memoryBudget('cpu', null)).toBeGreaterThan(0);
  });

  it('probes scale with the pixel count and never exceed the largest useful micro-batch', () => {
    expect(defaultProbes(96, 1024)).toEqual([4, 16]);
    expect(defaultProbes(32, 1024)).toEqual([36, 144]);
    expect(defaultProbes(32, 64)).toEqual([16, 64]);
  });
});

describe('out-of-memory classification', () => {
  it("tells TensorFlow's OOM errors and a crashed wasm heap from other errors", () => {
    for (const m of ['OOM when allocating tensor with shape[256,64,96,96]', 'Invalid TF_Status: 8', 'Resource exhausted: ...', 'Dst tensor is not initialized.', 'createBuffer failed to allocate a buffer mapped at creation.', 'Array buffer allocation failed']) {
      expect(isOutOfMemoryError(new Error(m))).toBe(true);
    }
    expect(isOutOfMemoryError(new Error('shapes do not match'))).toBe(false);
    expect(isBackendCorrupted(new Error('RuntimeError: memory access out of bounds'))).toBe(true);
    expect(isBackendCorrupted(new Error('Aborted(OOM)'))).toBe(true);
    expect(isBackendCorrupted(new Error('OOM when allocating'))).toBe(false);
  });

  it('parses TFJS_DDP_INJECT_OOM and rejects malformed entries with the variable named', () => {
    expect(parseInjectOom('1:3, 0:10')).toEqual([{ rank: 1, step: 3 }, { rank: 0, step: 10 }]);
    expect(parseInjectOom(undefined)).toEqual([]);
    let err: unknown;
    try {
      parseInjectOom('1-3', 'TFJS_DDP_INJECT_CRASH');
    } catch (e) {
      err = e;
    }
    expect(isDdpError(err, 'E_CONFIG')).toBe(true);
    expect(String(err)).toMatch(/TFJS_DDP_INJECT_CRASH entry "1-3"/);
  });

  it("budgets a WebGPU rank with its GPU's memory less what other processes hold (nvidia-smi memory.total,memory.used)", () => {
    expect(parseGpuMemory('143771, 1024\n')).toEqual({ total: 143771 * 2 ** 20, free: (143771 - 1024) * 2 ** 20 });
    expect(parseGpuMemory('[N/A], [N/A]\n')).toBeNull();
    expect(parseGpuMemory('')).toBeNull();
  });

  it('tells a software WebGPU adapter from a GPU', () => {
    expect(isSoftwareAdapter({ architecture: 'software', description: 'llvmpipe: Mesa 25.0.7' })).toBe(true);
    expect(isSoftwareAdapter({ description: 'SwiftShader Device (Subzero)' })).toBe(true);
    expect(isSoftwareAdapter({ isFallbackAdapter: true })).toBe(true);
    expect(isSoftwareAdapter({ architecture: 'hopper', description: 'NVIDIA H200', device: 'NVIDIA H200' })).toBe(false);
  });

  it('classifies the WebGPU failures: out of memory is replayed, a lost device replaces the process', () => {
    expect(isOutOfMemoryError(new Error(`${GPU_OUT_OF_MEMORY}: Out of memory creating buffer`))).toBe(true);
    expect(isBackendCorrupted(new Error(`${GPU_OUT_OF_MEMORY}: x`))).toBe(false);
    expect(isBackendCorrupted(new Error(`${GPU_DEVICE_LOST} (unknown: GPU hung)`))).toBe(true);
  });
});
