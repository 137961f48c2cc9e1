// The fused BatchNorm (+ ReLU) kernels of kernels/batch-norm-relu.ts on wasm without the native
// addon: their passes over the tensors in WebAssembly SIMD (kernels.wat), their per-channel steps
// the same JS functions, so the results are the JS loops' bit for bit (simd-kernels.spec.ts). The
// input is a list of channel parts (kernels/batch-norm-parts.ts): the plain kernels pass one, the
// parts kernels a dense block's; each pass runs per part, y and dy read at the part's channels.
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { gradChannels, trainChannels } from '../batch-norm-channels';
import { simdKernels, type SimdKernels } from './simd-kernels';

interface Outputs {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
}

interface Geometry {
  k: SimdKernels;
  rows: number;
  C: number;
  /** Each part's channels and first channel. */
  widths: number[];
  offsets: number[];
}

/**
 * Rows per block of the passes that read or write a tensor as wide as all the parts (y, dy): each
 * pass runs over a block for every part before the next block, so those rows are read from the
 * cache, not from memory once per part (a part at a time over all rows ran the five-part backward
 * 4× slower than over the concatenation: the strided strips cost the memory traffic of whole rows).
 * About 64 KiB of each wide tensor per block. One part: one block.
 */
function forBlocks(rows: number, C: number, parts: number, f: (first: number, count: number) => void): void {
  const block = parts === 1 ? rows : Math.max(1, Math.floor(16384 / C));
  for (let r0 = 0; r0 < rows; r0 += block) f(r0, Math.min(block, rows - r0));
}

/** The SIMD kernels and the parts' geometry, or null where they do not apply (then the JS loops run). */
function prepare(backend: unknown, parts: TensorInfo[]): Geometry | null {
  const widths = parts.map((p) => p.shape[p.shape.length - 1]!);
  const rows = parts[0]!.shape.reduce((a, c) => a * c, 1) / widths[0]!;
  if (widths.some((w) => w % 4 !== 0) || !(rows > 0)) return null;
  const k = simdKernels(backend);
  if (k === null) return null;
  const offsets: number[] = [];
  const C = widths.reduce((o, w) => (offsets.push(o), o + w), 0);
  return { k, rows, C, widths, offsets };
}

/** BN_TRAIN over `parts`: y (the parts side by side), mean, variance, 1/σ; null where the SIMD kernels do not apply. */
export function batchNormTrainSimd(
  backend: unknown,
  parts: TensorInfo[],
  gamma: TensorInfo,
  beta: TensorInfo,
  epsilon: number,
  relu: boolean,
): TensorInfo[] | null {
  const p = prepare(backend, parts);
  if (p === null) return null;
  const { k, rows, C, widths, offsets } = p;
  const lead = parts[0]!.shape.slice(0, -1);
  const outs = [[...lead, C], [C], [C], [C]].map((s) => (backend as Outputs).makeOutput(s, 'float32'));
  // Scratch: shift, s, q (float64), scale (float32).
  const at = k.scratch(28 * C);
  const heap = k.heap();
  const f64 = (i: number) => new Float64Array(heap, at + 8 * C * i, C);
  const [shift, s, q] = [f64(0), f64(1), f64(2)];
  const scale = new Float32Array(heap, at + 24 * C, C);
  const f32 = (t: TensorInfo, n = C) => new Float32Array(heap, k.offset(t), n);
  // Sums shifted by the first row, as the JS kernel's; x's parts are read where they are, row by row.
  s.fill(0);
  q.fill(0);
  parts.forEach((x, i) => {
    const o = offsets[i]!;
    shift.set(f32(x, widths[i]!), o);
    k.exports.bnSums(
      k.offset(x),
      rows,
      widths[i]!,
      shift.byteOffset + 8 * o,
      s.byteOffset + 8 * o,
      q.byteOffset + 8 * o,
    );
  });
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
  const yAt = k.offset(y);
  forBlocks(rows, C, parts.length, (r0, n) =>
    parts.forEach((x, i) => {
      const [o, w] = [offsets[i]!, widths[i]!];
      const [meanAt, betaAt] = [k.offset(mean) + 4 * o, k.offset(beta) + 4 * o];
      const [xAt, yRows] = [k.offset(x) + 4 * r0 * w, yAt + 4 * (r0 * C + o)];
      k.exports.bnApply(
        xAt,
        yRows,
        meanAt,
        scale.byteOffset + 4 * o,
        betaAt,
        n,
        w,
        relu ? 1 : 0,
        4 * (C - w),
      );
    }),
  );
  return outs;
}

/** The inputs of batchNormGradSimd: y only under a ReLU (its mask), each part's acc optional. */
export interface GradInputs {
  dy: TensorInfo;
  y?: TensorInfo;
  mean: TensorInfo;
  invStd: TensorInfo;
  gamma: TensorInfo;
  parts: TensorInfo[];
  accs: (TensorInfo | undefined)[];
}

/** BN_GRAD over `parts`: each part's dx (+ its acc), then dγ, dβ; null where the SIMD kernels do not apply. */
export function batchNormGradSimd(backend: unknown, t: GradInputs, relu: boolean): TensorInfo[] | null {
  const p = prepare(backend, t.parts);
  if (p === null) return null;
  const { k, rows, C, widths, offsets } = p;
  const outs = [...t.parts.map((x) => x.shape.slice()), [C], [C]].map((s) =>
    (backend as Outputs).makeOutput(s, 'float32'),
  );
  // Scratch: sb, sg (float64), k, a, t (float32).
  const at = k.scratch(28 * C);
  const heap = k.heap();
  const sb = new Float64Array(heap, at, C);
  const sg = new Float64Array(heap, at + 8 * C, C);
  const coef = (i: number) => new Float32Array(heap, at + 16 * C + 4 * C * i, C);
  const [kc, a, tc] = [coef(0), coef(1), coef(2)];
  const f32 = (x: TensorInfo) => new Float32Array(heap, k.offset(x), C);
  const n = t.parts.length;
  const [dGamma, dBeta] = [outs[n]!, outs[n + 1]!];
  const r = relu ? 1 : 0;
  // Without the ReLU the mask is not read: dy stands in for y.
  const [dy, y, mu] = [t.dy, relu ? t.y! : t.dy, t.mean].map((v) => k.offset(v)) as [number, number, number];
  sb.fill(0);
  sg.fill(0);
  // dy and y are read a block of rows at a time for every part; x's parts where they are.
  forBlocks(rows, C, n, (r0, count) =>
    t.parts.forEach((x, i) => {
      const [o, w] = [offsets[i]!, widths[i]!];
      const [sbAt, sgAt] = [sb.byteOffset + 8 * o, sg.byteOffset + 8 * o];
      const wide = 4 * (r0 * C + o);
      const xAt = k.offset(x) + 4 * r0 * w;
      k.exports.bnGradSums(dy + wide, y + wide, xAt, mu + 4 * o, count, w, r, sbAt, sgAt, 4 * (C - w));
    }),
  );
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
  forBlocks(rows, C, n, (r0, count) =>
    t.parts.forEach((x, i) => {
      const [o, w, acc] = [offsets[i]!, widths[i]!, t.accs[i]];
      const wide = 4 * (r0 * C + o);
      const narrow = 4 * r0 * w;
      k.exports.bnGradApply(
        dy + wide,
        y + wide,
        k.offset(x) + narrow,
        mu + 4 * o,
        kc.byteOffset + 4 * o,
        a.byteOffset + 4 * o,
        tc.byteOffset + 4 * o,
        acc === undefined ? 0 : k.offset(acc) + narrow,
        k.offset(outs[i]!) + narrow,
        count,
        w,
        r,
        acc === undefined ? 0 : 1,
        4 * (C - w),
      );
    }),
  );
  return outs;
}
