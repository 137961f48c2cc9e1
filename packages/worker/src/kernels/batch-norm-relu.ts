// Training-mode BatchNorm (+ ReLU) as two kernels, forward and backward, instead of the ~30 tfjs
// kernels of the composite (moments, normalize, ReLU and their gradients). Plain JS loops over the
// tensors' memory on wasm (the heap) and cpu (its arrays): two passes forward (per-channel sums,
// then y = max(0, x·s + t)) and two backward (per-channel Σdy' and Σdy'·(x − μ), then dx); sums in
// float64. The op that uses them, with the composite where a backend lacks them, is
// model/fast-batch-norm.ts. Where the native addon loads, the same passes in C++ (native/batch_norm.h,
// vectorized) replace the JS loops on wasm; on webgpu, WGSL (webgpu/batch-norm-webgpu.ts, three
// dispatches each). The tensorflow backend keeps the composite.
import type { KernelBackend, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { DnnlBinding } from './dnnl/dnnl-addon';
import { gradChannels, trainChannels } from './batch-norm-channels';
import { floatView, type WasmHeapBackend } from './heap-access';
import { batchNormGradSimd, batchNormTrainSimd } from './simd/batch-norm-simd';

export const BN_TRAIN = 'DdpBatchNormTrain';
export const BN_GRAD = 'DdpBatchNormGrad';
/**
 * Backends whose BN_GRAD takes an optional input `acc` and returns dx + acc: a gradient of x from its
 * other consumers, added in the kernel's last pass instead of by an Add (train/lean-backprop.ts).
 */
export const BN_GRAD_ACCUMULATES: ReadonlySet<string> = new Set(['webgpu', 'wasm', 'cpu']);
/**
 * Backends whose BN_TRAIN (and BN_TRAIN_PARTS, batch-norm-parts.ts) takes the optional inputs
 * movingMean and movingVariance (attributes movingRule, momentum) and returns their new values after
 * the other four outputs, by the rules of model/moving-statistics.ts: the moving statistics in the
 * same pass instead of their own.
 */
export const BN_TRAIN_MOVING: ReadonlySet<string> = new Set(['webgpu']);

export interface BatchNormTrainAttrs {
  epsilon: number;
  /** ReLU after the normalization (the output is max(0, y)). */
  relu: boolean;
  /** BN_TRAIN_MOVING backends, with the inputs movingMean and movingVariance: their rule and momentum. */
  movingRule?: 'pytorch' | 'tfjs';
  momentum?: number;
}

interface WasmLike {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
}
interface CpuLike {
  data: { get(id: object): { values: Float32Array } };
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): TensorInfo;
}

/**
 * Allocates float32 outputs of `shapes`, then views every input and output. On wasm all outputs
 * are allocated before any view is taken: an allocation can grow the heap, which detaches views.
 */
function floatViews(
  backendName: string,
  backend: KernelBackend,
  shapes: number[][],
  inputs: TensorInfo[],
): { outs: TensorInfo[]; out: Float32Array[]; ins: Float32Array[] } {
  if (backendName === 'wasm') {
    const b = backend as unknown as WasmLike;
    const outs = shapes.map((s) => b.makeOutput(s, 'float32'));
    return {
      outs,
      out: outs.map((t) => b.typedArrayFromHeap(t)),
      ins: inputs.map((t) => floatView(backendName, b, t)!),
    };
  }
  const b = backend as unknown as CpuLike;
  const out = shapes.map((s) => new Float32Array(s.reduce((a, c) => a * c, 1)));
  return {
    outs: shapes.map((s, i) => b.makeTensorInfo(s, 'float32', out[i]!)),
    out,
    ins: inputs.map((t) => floatView(backendName, b, t)!),
  };
}

/** x [..., C], gamma [C], beta [C] → y (x's shape), batch mean, biased variance, 1/√(var + ε). */
export function makeBatchNormTrain(backendName: string, simd = true): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x, gamma, beta } = inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
    const { epsilon, relu } = attrs as unknown as BatchNormTrainAttrs;
    if (simd && backendName === 'wasm') {
      const done = batchNormTrainSimd(backend, x, gamma, beta, epsilon, relu);
      if (done !== null) return done;
    }
    const C = x.shape[x.shape.length - 1]!;
    const { outs, out, ins } = floatViews(
      backendName,
      backend as KernelBackend,
      [x.shape.slice(), [C], [C], [C]],
      [x, gamma, beta],
    );
    const [xv, g, b] = ins as [Float32Array, Float32Array, Float32Array];
    const [y, mean, variance, invStd] = out as [Float32Array, Float32Array, Float32Array, Float32Array];
    const rows = xv.length / C;
    // Sums shifted by the first row (exact enough in float64 whatever the channel's offset).
    const shift = new Float64Array(C);
    const s = new Float64Array(C);
    const q = new Float64Array(C);
    for (let c = 0; c < C; c++) shift[c] = xv[c]!;
    for (let r = 0, i = 0; r < rows; r++) {
      for (let c = 0; c < C; c++, i++) {
        const d = xv[i]! - shift[c]!;
        s[c]! += d;
        q[c]! += d * d;
      }
    }
    // The element-wise pass in float32 (every operation rounded: the native kernel's vector lanes).
    const scale = new Float32Array(C);
    const f = Math.fround;
    trainChannels(rows, epsilon, { shift, s, q, gamma: g, mean, variance, invStd, scale });
    // y = (x − μ)·s + β: no cancellation between large terms, exactly β where x = μ. (v + |v|)/2 is
    // max(v, 0) exactly, without a branch (random signs mispredict).
    for (let r = 0, i = 0; r < rows; r++) {
      if (relu) {
        for (let c = 0; c < C; c++, i++) {
          const v = f(f(f(xv[i]! - mean[c]!) * scale[c]!) + b[c]!);
          y[i] = (v + Math.abs(v)) * 0.5;
        }
      } else {
        for (let c = 0; c < C; c++, i++) y[i] = f(f(xv[i]! - mean[c]!) * scale[c]!) + b[c]!;
      }
    }
    return outs;
  };
}

/**
 * dy, x, y, mean, invStd, gamma → dx, dγ, dβ (through the ReLU when `relu`: where y > 0 only); with
 * the optional input acc, dx + acc (BN_GRAD_ACCUMULATES). Two passes over dy, x and y (the mask
 * read from y, cheaper here than recomputing it), one write of dx. The native kernel takes the
 * input beta instead of y and recomputes the mask from x: the same mask, with less memory traffic.
 */
export function makeBatchNormGrad(backendName: string, simd = true): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { dy, x, y, mean, invStd, gamma, acc } = inputs as Record<
      'dy' | 'x' | 'y' | 'mean' | 'invStd' | 'gamma',
      TensorInfo
    > & { acc?: TensorInfo };
    const { relu } = attrs as unknown as Pick<BatchNormTrainAttrs, 'relu'>;
    if (simd && backendName === 'wasm') {
      const done = batchNormGradSimd(backend, { dy, x, y, mean, invStd, gamma, ...(acc === undefined ? {} : { acc }) }, relu);
      if (done !== null) return done;
    }
    const C = x.shape[x.shape.length - 1]!;
    const { outs, out, ins } = floatViews(
      backendName,
      backend as KernelBackend,
      [x.shape.slice(), [C], [C]],
      [dy, x, y, mean, invStd, gamma, ...(acc === undefined ? [] : [acc])],
    );
    const [dyv, xv, yv, mu, is, g, av] = ins as [
      Float32Array,
      Float32Array,
      Float32Array,
      Float32Array,
      Float32Array,
      Float32Array,
      Float32Array,
    ];
    const [dx, dGamma, dBeta] = out as [Float32Array, Float32Array, Float32Array];
    const rows = xv.length / C;
    const f = Math.fround;
    const sb = new Float64Array(C);
    const sg = new Float64Array(C);
    // Through the ReLU, dy' = dy·[y > 0]: the mask as a product, as the native kernel computes it
    // (a select on random signs mispredicts).
    for (let r = 0, i = 0; r < rows; r++) {
      for (let c = 0; c < C; c++, i++) {
        const v = relu ? dyv[i]! * Number(yv[i]! > 0) : dyv[i]!;
        sb[c]! += v;
        sg[c]! += v * (xv[i]! - mu[c]!);
      }
    }
    // dx = γ/σ · (dy' − dβ/n − x̂·dγ/n) = k·dy' + (a·(x − μ) + t), with x̂ = (x − μ)/σ and
    // t = −k·Σdy'/n; the last pass in float32, every operation rounded (the native kernel's lanes).
    const k = new Float32Array(C);
    const a = new Float32Array(C);
    const t = new Float32Array(C);
    gradChannels(rows, { sb, sg, gamma: g, invStd: is, dGamma, dBeta, k, a, t });
    for (let r = 0, i = 0; r < rows; r++) {
      for (let c = 0; c < C; c++, i++) {
        const xm = f(xv[i]! - mu[c]!);
        const d = relu ? dyv[i]! * Number(yv[i]! > 0) : dyv[i]!;
        const v = f(f(k[c]! * d) + f(f(a[c]! * xm) + t[c]!));
        dx[i] = av === undefined ? v : v + av[i]!;
      }
    }
    return outs;
  };
}

/** The JS kernels; on wasm their passes in WebAssembly SIMD where it applies, unless `simd` is false. */
export function batchNormReluConfigs(backendName: 'wasm' | 'cpu', simd = true): KernelConfig[] {
  return [
    { kernelName: BN_TRAIN, backendName, kernelFunc: makeBatchNormTrain(backendName, simd) },
    { kernelName: BN_GRAD, backendName, kernelFunc: makeBatchNormGrad(backendName, simd) },
  ];
}

/**
 * The same two kernels on wasm through the native addon's batchNorm (C++, in place on the heap);
 * null where the heap is not a plain ArrayBuffer (the threaded build's SharedArrayBuffer).
 */
function nativeKernel(addon: Pick<DnnlBinding, 'batchNorm'>, kind: 0 | 1, js: KernelFunc): KernelFunc {
  return (args) => {
    const b = args.backend as unknown as WasmHeapBackend;
    if (!(b.wasm.HEAPU8.buffer instanceof ArrayBuffer)) return js(args);
    const attrs = args.attrs as unknown as BatchNormTrainAttrs;
    const inputs = args.inputs as Record<string, TensorInfo>;
    const x = inputs['x']!;
    // Backward with acc: op 2 (batch_norm.h).
    const op = kind === 1 && inputs['acc'] !== undefined ? 2 : kind;
    const C = x.shape[x.shape.length - 1]!;
    const rows = x.shape.reduce((a, c) => a * c, 1) / C;
    const ins =
      op === 0
        ? [x, inputs['gamma']!, inputs['beta']!]
        : ['dy', 'x', 'beta', 'mean', 'invStd', 'gamma', ...(op === 2 ? ['acc'] : [])].map((n) => inputs[n]!);
    const shapes = op === 0 ? [x.shape.slice(), [C], [C], [C]] : [x.shape.slice(), [C], [C]];
    // Outputs first: an allocation can grow the heap, which replaces its ArrayBuffer.
    const outs = shapes.map((s) => b.makeOutput(s, 'float32'));
    const offsets = Float64Array.from([...ins, ...outs], (t) => b.dataIdMap.get(t.dataId)!.memoryOffset);
    addon.batchNorm(op, b.wasm.HEAPU8.buffer, offsets, rows, C, op === 0 ? attrs.epsilon : 0, attrs.relu);
    return outs;
  };
}

export function nativeBatchNormConfigs(addon: Pick<DnnlBinding, 'batchNorm'>): KernelConfig[] {
  return [
    {
      kernelName: BN_TRAIN,
      backendName: 'wasm',
      kernelFunc: nativeKernel(addon, 0, makeBatchNormTrain('wasm')),
    },
    {
      kernelName: BN_GRAD,
      backendName: 'wasm',
      kernelFunc: nativeKernel(addon, 1, makeBatchNormGrad('wasm')),
    },
  ];
}
