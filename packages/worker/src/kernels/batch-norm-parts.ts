// The fused BatchNorm (+ ReLU) training kernels over an input given as channel parts (a dense
// block's concatenation that is never made: model/fuse-concat-parts.ts), BN_TRAIN_PARTS and
// BN_GRAD_PARTS: here the native addon's batchNorm ops 3 and 4 (native/batch_norm.h) in place on
// the wasm heap, the same arithmetic per channel as BN_TRAIN and BN_GRAD on the concatenated
// tensor, so the same bits. Without the addon (and on a threaded build's shared heap) the JS and
// WebAssembly SIMD kernels of batch-norm-relu.ts take the parts; on webgpu,
// webgpu/batch-norm-parts-webgpu.ts (which also takes y under a ReLU, for its mask, and the moving
// statistics as BN_TRAIN_MOVING says). Registered by fast-kernels.ts.
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import {
  BN_GRAD_PARTS,
  BN_TRAIN_PARTS,
  kernelParts,
  makeBatchNormGrad,
  makeBatchNormTrain,
  type BatchNormTrainAttrs,
} from './batch-norm-relu';
import type { DnnlBinding } from './dnnl/dnnl-addon';
import type { WasmHeapBackend } from './heap-access';

export { BN_GRAD_PARTS, BN_TRAIN_PARTS } from './batch-norm-relu';

/** Whether the addon can work on this wasm backend's heap: a plain ArrayBuffer, not the threaded build's shared one. */
function plainHeap(backend: unknown): boolean {
  return (backend as WasmHeapBackend).wasm.HEAPU8.buffer instanceof ArrayBuffer;
}

/** The parts x0, x1, … of a kernel's inputs, their channel counts, C and the rows they share. */
function partsCall(backend: unknown, inputs: Record<string, TensorInfo | undefined>) {
  const b = backend as WasmHeapBackend;
  const { parts, widths, C, lead, rows } = kernelParts(inputs);
  return {
    b,
    parts,
    channels: Int32Array.from(widths),
    C,
    lead,
    rows,
    // After the outputs' allocation, which can grow the heap and replace its buffer.
    heap: () => b.wasm.HEAPU8.buffer as ArrayBuffer,
    at: (t: TensorInfo | undefined) => (t === undefined ? -1 : b.dataIdMap.get(t.dataId)!.memoryOffset),
  };
}

/** gamma, beta, x0…x(n−1) → y (the parts' rows side by side), mean, variance, 1/σ. */
function train(addon: Pick<DnnlBinding, 'batchNorm'>): KernelFunc {
  const js = makeBatchNormTrain('wasm');
  return (args) => {
    if (!plainHeap(args.backend)) return js(args);
    const { inputs, backend, attrs } = args;
    const a = attrs as unknown as BatchNormTrainAttrs;
    const ins = inputs as Record<string, TensorInfo>;
    const { b, parts, channels, C, lead, rows, heap, at } = partsCall(backend, ins);
    const outs = [[...lead, C], [C], [C], [C]].map((s) => b.makeOutput(s, 'float32'));
    const offsets = Float64Array.from([ins['gamma']!, ins['beta']!, ...outs, ...parts], at);
    addon.batchNorm(3, heap(), offsets, rows, C, a.epsilon, a.relu, channels);
    return outs;
  };
}

/** dy, gamma, beta, mean, invStd, x0…, acc0… (each optional) → dx0…, dγ, dβ. */
function grad(addon: Pick<DnnlBinding, 'batchNorm'>): KernelFunc {
  const js = makeBatchNormGrad('wasm');
  return (args) => {
    if (!plainHeap(args.backend)) return js(args);
    const { inputs, backend, attrs } = args;
    const { relu } = attrs as unknown as { relu: boolean };
    const ins = inputs as Record<string, TensorInfo | undefined>;
    const { b, parts, channels, C, rows, heap, at } = partsCall(backend, ins);
    const dxs = parts.map((p) => b.makeOutput(p.shape.slice(), 'float32'));
    const [dGamma, dBeta] = [b.makeOutput([C], 'float32'), b.makeOutput([C], 'float32')];
    const fixed = ['dy', 'beta', 'mean', 'invStd', 'gamma'].map((n) => ins[n]!);
    const accs = parts.map((_, i) => ins[`acc${i}`]);
    const offsets = Float64Array.from([...fixed, dGamma, dBeta, ...parts, ...dxs, ...accs], at);
    addon.batchNorm(4, heap(), offsets, rows, C, 0, relu, channels);
    return [...dxs, dGamma, dBeta];
  };
}

export function nativeBatchNormPartsConfigs(addon: Pick<DnnlBinding, 'batchNorm'>): KernelConfig[] {
  return [
    { kernelName: BN_TRAIN_PARTS, backendName: 'wasm', kernelFunc: train(addon) },
    { kernelName: BN_GRAD_PARTS, backendName: 'wasm', kernelFunc: grad(addon) },
  ];
}
