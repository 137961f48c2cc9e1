// The fused BatchNorm (+ ReLU) kernels of kernels/batch-norm-relu.ts on wasm without the native
// addon: their passes over the tensors in WebAssembly SIMD (kernels.wat), their per-channel steps
// the same JS functions, so the results are the JS loops' bit for bit (simd-kernels.spec.ts).
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { gradChannels, trainChannels } from '../batch-norm-channels';
import { simdKernels, type SimdKernels } from './simd-kernels';

interface Outputs {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
}

/** The SIMD kernels and x's geometry, or null where they do not apply (then the JS loops run). */
function prepare(backend: unknown, x: TensorInfo): { k: SimdKernels; rows: number; C: number } | null {
  const C = x.shape[x.shape.length - 1]!;
  const rows = x.shape.reduce((a, c) => a * c, 1) / C;
  if (C % 4 !== 0 || rows === 0) return null;
  const k = simdKernels(backend);
  return k === null ? null : { k, rows, C };
}

/** BN_TRAIN: y, mean, variance, 1/σ; null where the SIMD kernels do not apply. */
export function batchNormTrainSimd(
  backend: unknown,
  x: TensorInfo,
  gamma: TensorInfo,
  beta: TensorInfo,
  epsilon: number,
  relu: boolean,
): TensorInfo[] | null {
  const p = prepare(backend, x);
  if (p === null) return null;
  const { k, rows, C } = p;
  const outs = [x.shape.slice(), [C], [C], [C]].map((s) => (backend as Outputs).makeOutput(s, 'float32'));
  // Scratch: shift, s, q (float64), scale (float32).
  const at = k.scratch(28 * C);
  const heap = k.heap();
  const f64 = (i: number) => new Float64Array(heap, at + 8 * C * i, C);
  const [shift, s, q] = [f64(0), f64(1), f64(2)];
  const scale = new Float32Array(heap, at + 24 * C, C);
  const f32 = (t: TensorInfo) => new Float32Array(heap, k.offset(t), C);
  // Sums shifted by the first row, as the JS kernel's.
  shift.set(f32(x));
  k.exports.bnSums(k.offset(x), rows, C, shift.byteOffset, s.byteOffset, q.byteOffset);
  const [y, mean, variance, invStd] = outs as [TensorInfo, TensorInfo, TensorInfo, TensorInfo];
  trainChannels(rows, epsilon, {
    shift,
    s,
    q,
    gamma: f32(gamma),
    mean: f32(mean),
    variance: f32(variance),
    invStd: f32(invStd),
    scale,
  });
  k.exports.bnApply(
    k.offset(x),
    k.offset(y),
    k.offset(mean),
    scale.byteOffset,
    k.offset(beta),
    rows,
    C,
    relu ? 1 : 0,
  );
  return outs;
}

/** BN_GRAD: dx (+ acc), dγ, dβ, the mask read from y as the JS kernel's; null where the SIMD kernels do not apply. */
export function batchNormGradSimd(
  backend: unknown,
  t: Record<'dy' | 'x' | 'y' | 'mean' | 'invStd' | 'gamma', TensorInfo> & { acc?: TensorInfo },
  relu: boolean,
): TensorInfo[] | null {
  const p = prepare(backend, t.x);
  if (p === null) return null;
  const { k, rows, C } = p;
  const outs = [t.x.shape.slice(), [C], [C]].map((s) => (backend as Outputs).makeOutput(s, 'float32'));
  // Scratch: sb, sg (float64), k, a, t (float32).
  const at = k.scratch(28 * C);
  const heap = k.heap();
  const sb = new Float64Array(heap, at, C);
  const sg = new Float64Array(heap, at + 8 * C, C);
  const coef = (i: number) => new Float32Array(heap, at + 16 * C + 4 * C * i, C);
  const [kc, a, tc] = [coef(0), coef(1), coef(2)];
  const f32 = (x: TensorInfo) => new Float32Array(heap, k.offset(x), C);
  const [dx, dGamma, dBeta] = outs as [TensorInfo, TensorInfo, TensorInfo];
  const r = relu ? 1 : 0;
  const [dy, x, y, mu] = [t.dy, t.x, t.y, t.mean].map((v) => k.offset(v)) as [number, number, number, number];
  k.exports.bnGradSums(dy, y, x, mu, rows, C, r, sb.byteOffset, sg.byteOffset);
  gradChannels(rows, {
    sb,
    sg,
    gamma: f32(t.gamma),
    invStd: f32(t.invStd),
    dGamma: f32(dGamma),
    dBeta: f32(dBeta),
    k: kc,
    a,
    t: tc,
  });
  const acc = t.acc === undefined ? 0 : k.offset(t.acc);
  k.exports.bnGradApply(
    dy,
    y,
    x,
    mu,
    kc.byteOffset,
    a.byteOffset,
    tc.byteOffset,
    acc,
    k.offset(dx),
    rows,
    C,
    r,
    t.acc === undefined ? 0 : 1,
  );
  return outs;
}
