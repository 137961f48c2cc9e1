// The fused BatchNorm (+ ReLU) kernels of kernels/batch-norm-relu.ts on wasm without the native
// addon: their passes over the tensors in WebAssembly SIMD (kernels.wat), their per-channel steps
// the same JS functions, so the results are the JS loops' bit for bit (simd-kernels.spec.ts). The
// input is a list of channel parts (kernels/batch-norm-parts.ts): the plain kernels pass one, the
// parts kernels a dense block's. The passes over the full-width tensors (y forward, dy and y
// backward) take a table of the parts and go row by row through every part in turn, so those rows
// are read and written whole: a part at a time over all rows ran the five-part backward 4× slower
// than over the concatenation (each 32-channel strip cost the memory traffic of whole rows).
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

/** Writes the parts table the passes take (an int32 entry per part) at `at`, and returns `at`. */
function table(heap: ArrayBuffer, at: number, entries: number[][]): number {
  const view = new Int32Array(heap, at, entries.length * entries[0]!.length);
  entries.forEach((e, i) => view.set(e, i * e.length));
  return at;
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
  // Scratch: shift, s, q (float64), scale (float32), then the parts table.
  const at = k.scratch(28 * C + 8 * parts.length);
  const heap = k.heap();
  const f64 = (i: number) => new Float64Array(heap, at + 8 * C * i, C);
  const [shift, s, q] = [f64(0), f64(1), f64(2)];
  const scale = new Float32Array(heap, at + 24 * C, C);
  const f32 = (t: TensorInfo, n = C) => new Float32Array(heap, k.offset(t), n);
  // Sums shifted by the first row, as the JS kernel's; each part read where it is.
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
  const tab = table(
    heap,
    at + 28 * C,
    parts.map((x, i) => [k.offset(x), 4 * widths[i]!]),
  );
  const [yAt, meanAt, betaAt] = [k.offset(y), k.offset(mean), k.offset(beta)];
  k.exports.bnApply(tab, parts.length, yAt, meanAt, scale.byteOffset, betaAt, rows, C, relu ? 1 : 0);
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
  const { k, rows, C, widths } = p;
  const outs = [...t.parts.map((x) => x.shape.slice()), [C], [C]].map((s) =>
    (backend as Outputs).makeOutput(s, 'float32'),
  );
  const n = t.parts.length;
  // Scratch: sb, sg (float64), k, a, t (float32), then the parts table.
  const at = k.scratch(28 * C + 16 * n);
  const heap = k.heap();
  const sb = new Float64Array(heap, at, C);
  const sg = new Float64Array(heap, at + 8 * C, C);
  const coef = (i: number) => new Float32Array(heap, at + 16 * C + 4 * C * i, C);
  const [kc, a, tc] = [coef(0), coef(1), coef(2)];
  const f32 = (x: TensorInfo) => new Float32Array(heap, k.offset(x), C);
  const [dGamma, dBeta] = [outs[n]!, outs[n + 1]!];
  const r = relu ? 1 : 0;
  // Without the ReLU the mask is not read: dy stands in for y.
  const [dy, y, mu] = [t.dy, relu ? t.y! : t.dy, t.mean].map((v) => k.offset(v)) as [number, number, number];
  const tabAt = at + 28 * C;
  sb.fill(0);
  sg.fill(0);
  const sumsTab = table(
    heap,
    tabAt,
    t.parts.map((x, i) => [k.offset(x), 4 * widths[i]!]),
  );
  k.exports.bnGradSums(sumsTab, n, dy, y, mu, rows, C, r, sb.byteOffset, sg.byteOffset);
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
  const applyTab = table(
    heap,
    tabAt,
    t.parts.map((x, i) => {
      const acc = t.accs[i];
      return [k.offset(x), acc === undefined ? 0 : k.offset(acc), k.offset(outs[i]!), 4 * widths[i]!];
    }),
  );
  k.exports.bnGradApply(applyTab, n, dy, y, mu, kc.byteOffset, a.byteOffset, tc.byteOffset, rows, C, r);
  return outs;
}
