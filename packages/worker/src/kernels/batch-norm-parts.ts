// The fused BatchNorm (+ ReLU) training kernels over an input given as channel parts (a dense
// block's concatenation that is never made: model/fuse-concat-parts.ts): BN_TRAIN_PARTS and
// BN_GRAD_PARTS, the native addon's batchNorm ops 3 and 4 (native/batch_norm.h) in place on the
// wasm heap. The same arithmetic per channel as BN_TRAIN and BN_GRAD on the concatenated tensor,
// so the same bits. Registered only where the addon loads (fast-kernels.ts); elsewhere the
// concatenation is made and the plain kernels run.
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BatchNormTrainAttrs } from './batch-norm-relu';
import type { DnnlBinding } from './dnnl/dnnl-addon';
import type { WasmHeapBackend } from './heap-access';

export const BN_TRAIN_PARTS = 'DdpBatchNormTrainParts';
export const BN_GRAD_PARTS = 'DdpBatchNormGradParts';

/** The parts x0, x1, … of a kernel's inputs, in order. */
export function partsOf(inputs: Record<string, TensorInfo | undefined>, prefix = 'x'): TensorInfo[] {
  const parts: TensorInfo[] = [];
  for (let i = 0; inputs[`${prefix}${i}`] !== undefined; i++) parts.push(inputs[`${prefix}${i}`]!);
  return parts;
}

/** The backend and its heap's buffer (a plain ArrayBuffer: the threaded build's shared one is refused). */
function heapOf(backend: unknown): { b: WasmHeapBackend; heap: ArrayBuffer } {
  const b = backend as WasmHeapBackend;
  const heap = b.wasm.HEAPU8.buffer;
  if (!(heap instanceof ArrayBuffer))
    throw new Error(`${BN_TRAIN_PARTS}: the wasm heap is not a plain ArrayBuffer (a threaded build)`);
  return { b, heap };
}

/** gamma, beta, x0…x(n−1) → y (the parts' rows side by side), mean, variance, 1/σ. */
function train(addon: Pick<DnnlBinding, 'batchNorm'>): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { b } = heapOf(backend);
    const a = attrs as unknown as BatchNormTrainAttrs;
    const ins = inputs as Record<string, TensorInfo>;
    const parts = partsOf(ins);
    const channels = Int32Array.from(parts, (p) => p.shape[p.shape.length - 1]!);
    const C = channels.reduce((s, c) => s + c, 0);
    const lead = parts[0]!.shape.slice(0, -1);
    const rows = lead.reduce((s, d) => s * d, 1);
    // Outputs first: an allocation can grow the heap, which replaces its ArrayBuffer.
    const outs = [[...lead, C], [C], [C], [C]].map((s) => b.makeOutput(s, 'float32'));
    const at = (t: TensorInfo) => b.dataIdMap.get(t.dataId)!.memoryOffset;
    const offsets = Float64Array.from([ins['gamma']!, ins['beta']!, ...outs, ...parts], at);
    addon.batchNorm(3, heapOf(backend).heap, offsets, rows, C, a.epsilon, a.relu, channels);
    return outs;
  };
}

/** dy, gamma, beta, mean, invStd, x0…, acc0… (each optional) → dx0…, dγ, dβ. */
function grad(addon: Pick<DnnlBinding, 'batchNorm'>): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { b } = heapOf(backend);
    const { relu } = attrs as unknown as { relu: boolean };
    const ins = inputs as Record<string, TensorInfo | undefined>;
    const parts = partsOf(ins);
    const channels = Int32Array.from(parts, (p) => p.shape[p.shape.length - 1]!);
    const C = channels.reduce((s, c) => s + c, 0);
    const rows = parts[0]!.shape.slice(0, -1).reduce((s, d) => s * d, 1);
    const dxs = parts.map((p) => b.makeOutput(p.shape.slice(), 'float32'));
    const [dGamma, dBeta] = [b.makeOutput([C], 'float32'), b.makeOutput([C], 'float32')];
    const at = (t: TensorInfo | undefined) =>
      t === undefined ? -1 : b.dataIdMap.get(t.dataId)!.memoryOffset;
    const fixed = ['dy', 'beta', 'mean', 'invStd', 'gamma'].map((n) => ins[n]!);
    const accs = parts.map((_, i) => ins[`acc${i}`]);
    const offsets = Float64Array.from([...fixed, dGamma, dBeta, ...parts, ...dxs, ...accs], at);
    addon.batchNorm(4, heapOf(backend).heap, offsets, rows, C, 0, relu, channels);
    return [...dxs, dGamma, dBeta];
  };
}

export function nativeBatchNormPartsConfigs(addon: Pick<DnnlBinding, 'batchNorm'>): KernelConfig[] {
  return [
    { kernelName: BN_TRAIN_PARTS, backendName: 'wasm', kernelFunc: train(addon) },
    { kernelName: BN_GRAD_PARTS, backendName: 'wasm', kernelFunc: grad(addon) },
  ];
}
