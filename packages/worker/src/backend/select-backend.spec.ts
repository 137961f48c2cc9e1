import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { AUTO_ORDER, selectBackend, wasmHeapBytes } from './select-backend';

// tfjs-node and tfjs-node-gpu are optional dependencies whose install needs internet access; on
// machines without them (CI here) these tests check the fallback and the errors.
const hasNode = await import(/* @vite-ignore */ '@tensorflow/tfjs-node' as string).then(
  () => true,
  () => false,
);

describe('selectBackend', () => {
  it('tries tfjs-node-gpu, then webgpu, then tfjs-node, then wasm, then cpu for auto', () => {
    expect(AUTO_ORDER).toEqual(['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu']);
  });

  it.skipIf(hasNode)('falls back to wasm on auto and says why each better backend was skipped', async () => {
    const info = await selectBackend('auto');
    expect(info.chosen).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.skipped.map((s) => s.backend)).toEqual(['tensorflow-gpu', 'webgpu', 'tensorflow']);
    expect(info.skipped[0]!.reason).toMatch(/E_BACKEND: @tensorflow\/tfjs-node-gpu could not be loaded/);
    // No GPU here: auto passes over the software adapter (lavapipe), or over no adapter at all.
    expect(info.skipped[1]!.reason).toMatch(
      /E_GPU_UNAVAILABLE: (the only WebGPU adapter is a software one .*pass --backend webgpu to use it anyway|WebGPU found no)/,
    );
    // oneDNN's convolutions go over the wasm ones when the native addon is built (dnnl/).
    const native = info.nativeKernels.provider === 'onednn' ? ['Conv2D', 'FusedConv2D', 'DdpConv2DBackpropFilterBias', 'SplitV', 'Slice', 'Concat', 'AvgPoolGrad', 'Sum', 'Add', 'Equal', 'PadV2'] : [];
    expect(info.fastKernels).toEqual(['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'MaxPoolGrad', 'DdpMaxPoolZeroPad', 'DdpMaxPoolZeroPadGrad', 'DdpBatchNormTrain', 'DdpBatchNormGrad', 'DdpBatchNormTrainParts', 'DdpBatchNormGradParts', 'Identity', ...native]);
    expect(info.nativeKernels.why).toMatch(/^oneDNN \d|did not load|TFJS_DDP_/);
    expect(wasmHeapBytes()).toBeGreaterThan(0);
  });

  it.skipIf(hasNode)('rejects an explicit GPU request it cannot honour, naming the fix', async () => {
    await expect(selectBackend('tensorflow-gpu')).rejects.toThrow(
      /E_BACKEND: .*tfjs-node-gpu.*npm install @tensorflow\/tfjs-node-gpu/,
    );
  });

  it('activates cpu when asked, with the fast kernels registered', async () => {
    const info = await selectBackend('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(info.device).toBe('cpu');
    expect(wasmHeapBytes()).toBeNull();
  });

  it('rejects an unknown backend name as a config error', async () => {
    await expect(selectBackend('webgl' as never)).rejects.toThrow(
      /E_CONFIG: backend 'webgl' is not one of auto, tensorflow-gpu, webgpu/,
    );
  });
});
