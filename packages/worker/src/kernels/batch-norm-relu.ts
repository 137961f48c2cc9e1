// Training-mode BatchNorm (+ ReLU) as two kernels, forward and backward, instead of the ~30 tfjs
// kernels of the composite (moments, normalize, ReLU and their gradients). Plain JS loops over the
// tensors' memory on wasm (the heap) and cpu (its arrays): two passes forward (per-channel sums,
// then y = max(0, x·s + t)) and two backward (per-channel Σdy' and Σdy'·(x − μ), then dx); sums in
// float64. The op that uses them, with the composite where a backend lacks them, is
// model/fast-batch-norm.ts. Where the native addon loads, the same passes in C++ (native/batch_norm.h,
// vectorized) replace the JS loops on wasm; on webgpu, WGSL (webgpu/batch-norm-webgpu.ts, three
// dispatches each). The tensorflow backend keeps the composite. The same kernel functions take a dense
// block's channel parts (BN_TRAIN_PARTS, BN_GRAD_PARTS: batch-norm-parts.ts) where the addon is absent.
import type { KernelBackend, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { DnnlBinding } from './dnnl/dnnl-addon';
import { gradChannels, trainChannels } from './batch-norm-channels';
import { floatView, type WasmHeapBackend } from './heap-access';
import { batchNormGradSimd, batchNormTrainSimd } from './simd/batch-norm-simd';

export const BN_TRAIN = 'DdpBatchNormTrain';
export const BN_GRAD = 'DdpBatchNormGrad';
/** The same two over a dense block's channel parts x0, x1, … (batch-norm-parts.ts). */
export const BN_TRAIN_PARTS = 'DdpBatchNormTrainParts';
export const BN_GRAD_PARTS = 'DdpBatchNormGradParts';
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

/** Each part's first channel. */
function partOffsets(widths: number[]): number[] {
  const offsets: number[] = [];
  widths.reduce((o, w) => (offsets.push(o), o + w), 0);
  return offsets;
}

/**
 * The input of a plain kernel (x) or of a parts kernel (x0, x1, …: kernels/batch-norm-parts.ts),
 * as a list of channel parts with their widths, the total C and the rows they share.
 */
/**
 * A BatchNorm kernel's input: the plain `x` (BN_TRAIN, BN_GRAD) or its channel parts x0, x1, …
 * (BN_TRAIN_PARTS, BN_GRAD_PARTS), with each one's channel count, C and the rows they share. Every
 * backend's kernels read their inputs through this.
 */
export function kernelParts(inputs: Record<string, TensorInfo | undefined>): {
  parts: TensorInfo[];
  widths: number[];
  C: number;
  lead: number[];
  rows: number;
} {
  const parts: TensorInfo[] = [];
  if (inputs['x'] !== undefined) parts.push(inputs['x']);
  else for (let i = 0; inputs[`x${i}`] !== undefined; i++) parts.push(inputs[`x${i}`]!);
  const widths = parts.map((p) => p.shape[p.shape.length - 1]!);
  const lead = parts[0]!.shape.slice(0, -1);
  return { parts, widths, C: widths.reduce((s, w) => s + w, 0), lead, rows: lead.reduce((a, d) => a * d, 1) };
}

/**
 * gamma [C], beta [C] and x [..., C] (BN_TRAIN) or its channel parts x0, x1, … (BN_TRAIN_PARTS) →
 * y [..., C], batch mean, biased variance, 1/√(var + ε).
 */
export function makeBatchNormTrain(backendName: string, simd = true): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { gamma, beta } = inputs as { gamma: TensorInfo; beta: TensorInfo };
    const { epsilon, relu } = attrs as unknown as BatchNormTrainAttrs;
    const { parts, widths, C, lead, rows } = kernelParts(inputs as Record<string, TensorInfo | undefined>);
    if (simd && backendName === 'wasm') {
      const done = batchNormTrainSimd(backend, parts, gamma, beta, epsilon, relu);
      if (done !== null) return done;
    }
    const { outs, out, ins } = floatViews(
      backendName,
      backend as KernelBackend,
      [[...lead, C], [C], [C], [C]],
      [gamma, beta, ...parts],
    );
    const [g, b, ...xs] = ins as [Float32Array, Float32Array, ...Float32Array[]];
    const [y, mean, variance, invStd] = out as [Float32Array, Float32Array, Float32Array, Float32Array];
    // Sums shifted by the first row (exact enough in float64 whatever the channel's offset), a part
    // at a time: per channel the same order as over the concatenation.
    const shift = new Float64Array(C);
    const s = new Float64Array(C);
    const q = new Float64Array(C);
    for (let p = 0, o = 0; p < xs.length; o += widths[p]!, p++) {
      const [xv, w] = [xs[p]!, widths[p]!];
      for (let c = 0; c < w; c++) shift[o + c] = xv[c]!;
      for (let r = 0, i = 0; r < rows; r++) {
        for (let c = 0; c < w; c++, i++) {
          const d = xv[i]! - shift[o + c]!;
          s[o + c]! += d;
          q[o + c]! += d * d;
        }
      }
    }
    // The element-wise pass in float32 (every operation rounded: the native kernel's vector lanes).
    const scale = new Float32Array(C);
    const f = Math.fround;
    trainChannels(rows, epsilon, { shift, s, q, gamma: g, mean, variance, invStd, scale });
    // y = (x − μ)·s + β: no cancellation between large terms, exactly β where x = μ. (v + |v|)/2 is
    // max(v, 0) exactly, without a branch (random signs mispredict).
    // Row by row, every part in turn: y's rows are written whole (the parts' strips would cost
    // whole rows of memory traffic per part).
    const offsets = partOffsets(widths);
    for (let r = 0; r < rows; r++) {
      for (let p = 0; p < xs.length; p++) {
        const xv = xs[p]!;
        const [w, o] = [widths[p]!, offsets[p]!];
        const yr = r * C + o;
        if (relu) {
          for (let c = 0, i = r * w; c < w; c++, i++) {
            const v = f(f(f(xv[i]! - mean[o + c]!) * scale[o + c]!) + b[o + c]!);
            y[yr + c] = (v + Math.abs(v)) * 0.5;
          }
        } else {
          for (let c = 0, i = r * w; c < w; c++, i++) y[yr + c] = f(f(xv[i]! - mean[o + c]!) * scale[o + c]!) + b[o + c]!;
        }
      }
    }
    return outs;
  };
}

/**
 * dy, x, y, mean, invStd, gamma → dx, dγ, dβ (through the ReLU when `relu`: where y > 0 only); with
 * the optional input acc, dx + acc (BN_GRAD_ACCUMULATES). Or BN_GRAD_PARTS: the parts x0, x1, … and
 * each one's optional acc0, acc1, … → dx0, dx1, …, dγ, dβ (y only under a ReLU). Two passes over
 * dy, x and y (the mask read from y, cheaper here than recomputing it), one write of dx. The native
 * kernel takes the input beta instead of y and recomputes the mask from x: the same mask, with
 * less memory traffic.
 */
export function makeBatchNormGrad(backendName: string, simd = true): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const ins0 = inputs as Record<string, TensorInfo | undefined>;
    const { dy, mean, invStd, gamma } = inputs as Record<'dy' | 'mean' | 'invStd' | 'gamma', TensorInfo>;
    const { relu } = attrs as unknown as Pick<BatchNormTrainAttrs, 'relu'>;
    const { parts, widths, C, rows } = kernelParts(ins0);
    const accs = ins0['x'] !== undefined ? [ins0['acc']] : parts.map((_, i) => ins0[`acc${i}`]);
    const y = relu ? ins0['y'] : undefined;
    if (relu && y === undefined) throw new Error(`${BN_GRAD}: under a ReLU the forward output y is an input (its mask)`);
    if (simd && backendName === 'wasm') {
      const done = batchNormGradSimd(backend, { dy, ...(y === undefined ? {} : { y }), mean, invStd, gamma, parts, accs }, relu);
      if (done !== null) return done;
    }
    const n = parts.length;
    const given = accs.flatMap((a) => (a === undefined ? [] : [a]));
    const { outs, out, ins } = floatViews(
      backendName,
      backend as KernelBackend,
      [...parts.map((p) => p.shape.slice()), [C], [C]],
      [dy, mean, invStd, gamma, ...(y === undefined ? [dy] : [y]), ...parts, ...given],
    );
    const [dyv, mu, is, g, yv] = ins as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
    const xs = ins.slice(5, 5 + n) as Float32Array[];
    const accViews: (Float32Array | undefined)[] = [];
    for (let p = 0, j = 5 + n; p < n; p++) accViews.push(accs[p] === undefined ? undefined : ins[j++]);
    const [dGamma, dBeta] = [out[n]!, out[n + 1]!];
    const f = Math.fround;
    const sb = new Float64Array(C);
    const sg = new Float64Array(C);
    // Through the ReLU, dy' = dy·[y > 0]: the mask as a product, as the native kernel computes it
    // (a select on random signs mispredicts).
    // Row by row, every part in turn, as the forward's last pass: dy and y are read whole rows.
    const offsets = partOffsets(widths);
    for (let r = 0; r < rows; r++) {
      for (let p = 0; p < n; p++) {
        const xv = xs[p]!;
        const [w, o] = [widths[p]!, offsets[p]!];
        for (let c = 0, i = r * w, j = r * C + o; c < w; c++, i++, j++) {
          const v = relu ? dyv[j]! * Number(yv[j]! > 0) : dyv[j]!;
          sb[o + c]! += v;
          sg[o + c]! += v * (xv[i]! - mu[o + c]!);
        }
      }
    }
    // dx = γ/σ · (dy' − dβ/n − x̂·dγ/n) = k·dy' + (a·(x − μ) + t), with x̂ = (x − μ)/σ and
    // t = −k·Σdy'/n; the last pass in float32, every operation rounded (the native kernel's lanes).
    const k = new Float32Array(C);
    const a = new Float32Array(C);
    const t = new Float32Array(C);
    gradChannels(rows, { sb, sg, gamma: g, invStd: is, dGamma, dBeta, k, a, t });
    for (let r = 0; r < rows; r++) {
      for (let p = 0; p < n; p++) {
        const [xv, dx, av] = [xs[p]!, out[p]!, accViews[p]];
        const [w, o] = [widths[p]!, offsets[p]!];
        for (let c = 0, i = r * w, j = r * C + o; c < w; c++, i++, j++) {
          const oc = o + c;
          const xm = f(xv[i]! - mu[oc]!);
          const d = relu ? dyv[j]! * Number(yv[j]! > 0) : dyv[j]!;
          const v = f(f(k[oc]! * d) + f(f(a[oc]! * xm) + t[oc]!));
          dx[i] = av === undefined ? v : v + av[i]!;
        }
      }
    }
    return outs;
  };
}

/**
 * The JS kernels, plain and over channel parts; on wasm their passes in WebAssembly SIMD where it
 * applies, unless `simd` is false.
 */
export function batchNormReluConfigs(backendName: 'wasm' | 'cpu', simd = true): KernelConfig[] {
  const train = makeBatchNormTrain(backendName, simd);
  const grad = makeBatchNormGrad(backendName, simd);
  return [
    { kernelName: BN_TRAIN, backendName, kernelFunc: train },
    { kernelName: BN_GRAD, backendName, kernelFunc: grad },
    { kernelName: BN_TRAIN_PARTS, backendName, kernelFunc: train },
    { kernelName: BN_GRAD_PARTS, backendName, kernelFunc: grad },
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
