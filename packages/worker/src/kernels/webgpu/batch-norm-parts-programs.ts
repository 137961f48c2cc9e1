// WGSL for the parts BatchNorm (+ ReLU) kernels on webgpu (batch-norm-parts-webgpu.ts): the sums
// and apply programs of batch-norm-programs.ts over a group of channel parts x0…x(k−1) (a dense
// block's concatenation that is never made, model/fuse-concat-parts.ts) instead of one tensor. Each
// part is [rows, Cp]; the group's channels are offset…offset + Σ Cp − 1 of the layer's C, and y, dy
// and the per-channel arrays are indexed by those. Per channel the loads, the order of the sums and
// the arithmetic are the plain programs', so the results are theirs on the concatenated tensor.
//
// An invocation finds its part by its channel (a chain of ifs on the uniform boundaries b1…b(k−1),
// in channels from the group's start), so one pipeline serves every layer with k parts (and, for the
// backward apply, the same parts with a pending gradient). The forward sums also write each
// channel's shift (its first row) into the partials' last C entries, read by the finalize
// (forwardFinalize with shiftInPartial) instead of x.
import { channelsProgram, chunking, read, write } from './batch-norm-programs';
import type { ProgramUniform } from './webgpu-backend-like';
import { memoized, type RawProgram } from './raw-dispatch';

/** A group of consecutive parts one dispatch takes: its first channel and the parts' channels. */
export interface PartsGroup {
  offset: number;
  channels: number[];
}

function program(key: string, k: number, threads: number, bindings: string[], body: string): RawProgram {
  const bounds = Array.from({ length: k - 1 }, (_, p) => ` b${p + 1} : i32,`).join('');
  const uniforms = `struct Uniforms { rows : i32, channels : i32, chunkRows : i32, chunks : i32, threads : i32, offset : i32, group : i32,${bounds} };`;
  return channelsProgram(key, threads, uniforms, bindings, body);
}

/** The uniforms of a program over `group`, `threads` invocations. */
export function partsUniforms(rows: number, C: number, group: PartsGroup, threads: number): ProgramUniform[] {
  const { chunkRows, chunks } = chunking(rows);
  const int = (v: number) => ({ type: 'int32' as const, data: [v] });
  const bounds: number[] = [];
  group.channels.slice(0, -1).reduce((s, c) => (bounds.push(s + c), s + c), 0);
  const width = group.channels.reduce((s, c) => s + c, 0);
  return [rows, C, chunkRows, chunks, threads, group.offset, width, ...bounds].map(int);
}

/**
 * The body run for part p of k, `c` the invocation's channel from the group's start in units of
 * `l` lanes: in it, `cc` is the channel within the part and `P` the part's width (both in lanes).
 */
function branches(k: number, l: number, part: (p: number) => string): string {
  const bound = (p: number) => (p === 0 ? '0' : p === k ? 'u.group' : `u.b${p}`);
  const lanes = (e: string) => (l === 1 ? e : `(${e} / ${l})`);
  const body = (p: number) => `
    let cc = c - ${lanes(bound(p))};
    let P = ${lanes(bound(p + 1))} - ${lanes(bound(p))};${part(p)}`;
  if (k === 1) return `  {${body(0)}\n  }`;
  return Array.from({ length: k }, (_, p) =>
    p === k - 1
      ? ` else {${body(p)}\n  }`
      : `${p === 0 ? '  ' : ' else '}if (c < ${lanes(bound(p + 1))}) {${body(p)}\n  }`,
  ).join('');
}

const SUMS_HEAD = `
  let c = i % u.group;
  let k = i / u.group;
  let gc = u.offset + c;
  var s = 0.0;
  var q = 0.0;
  let r0 = k * u.chunkRows;
  let r1 = min(r0 + u.chunkRows, u.rows);`;

const SUMS_TAIL = `
  partial[k * 2 * C + gc] = s;
  partial[k * 2 * C + C + gc] = q;`;

const threadsOfSums = (rows: number, width: number) => chunking(rows).chunks * width;
const width = (g: PartsGroup) => g.channels.reduce((s, c) => s + c, 0);

/** Forward sums over a group; bindings x0…x(k−1), partial [chunks·2·C + C] (the shifts last). */
export const forwardPartsSums = memoized(function forwardPartsSums(
  rows: number,
  group: PartsGroup,
): { program: RawProgram; threads: number } {
  const k = group.channels.length;
  const xs = group.channels.map((_, p) => read(`x${p}`));
  const body = `${SUMS_HEAD}
  var shift = 0.0;
${branches(
  k,
  1,
  (p) => `
    shift = x${p}[cc];
    for (var r = r0; r < r1; r++) {
      let d = x${p}[r * P + cc] - shift;
      s += d;
      q += d * d;
    }`,
)}${SUMS_TAIL}
  if (k == 0) { partial[u.chunks * 2 * C + gc] = shift; }`;
  const threads = threadsOfSums(rows, width(group));
  return {
    program: program(`tfjsDdpBnPartsSums_${k}`, k, threads, [...xs, write('partial')], body),
    threads,
  };
});

/** Backward sums over a group; bindings dy, y (under a ReLU only), mean, x0…x(k−1), partial. */
export const backwardPartsSums = memoized(function backwardPartsSums(
  rows: number,
  group: PartsGroup,
  relu: boolean,
): { program: RawProgram; threads: number } {
  const k = group.channels.length;
  const g = relu ? 'select(0.0, dy[j], y[j] > 0.0)' : 'dy[j]';
  const bindings = [
    read('dy'),
    ...(relu ? [read('y')] : []),
    read('mean'),
    ...group.channels.map((_, p) => read(`x${p}`)),
    write('partial'),
  ];
  const body = `${SUMS_HEAD}
  let mu = mean[gc];
${branches(
  k,
  1,
  (p) => `
    for (var r = r0; r < r1; r++) {
      let j = r * C + gc;
      let g = ${g};
      s += g;
      q += g * (x${p}[r * P + cc] - mu);
    }`,
)}${SUMS_TAIL}`;
  const threads = threadsOfSums(rows, width(group));
  return { program: program(`tfjsDdpBnPartsGradSums_${k}_${relu}`, k, threads, bindings, body), threads };
});

/** Lanes per invocation of the element-wise programs: 4 where every width and the offset allow. */
export function partsLanes(C: number, group: PartsGroup): 1 | 4 {
  return [C, group.offset, ...group.channels].every((c) => c % 4 === 0) ? 4 : 1;
}

const APPLY_HEAD = (l: number) => `
  let Cl = C / ${l};
  let Gl = u.group / ${l};
  let row = i / Gl;
  let c = i % Gl;
  let gc = u.offset / ${l} + c;
  let j = row * Cl + gc;`;

/** y = (x − μ)·γ/σ + β (max(0, ·) under a ReLU) over a group; bindings x0…x(k−1), coef → y. */
export const forwardPartsApply = memoized(function forwardPartsApply(
  rows: number,
  C: number,
  group: PartsGroup,
  relu: boolean,
): { program: RawProgram; threads: number } {
  const k = group.channels.length;
  const l = partsLanes(C, group);
  const t = l === 4 ? 'vec4<f32>' : 'f32';
  const e = (p: number) => `(x${p}[row * P + cc] - coef[Cl + gc]) * coef[gc] + coef[2 * Cl + gc]`;
  const v = (p: number) => (relu ? `max(${e(p)}, ${t}(0.0))` : e(p));
  const bindings = [...group.channels.map((_, p) => read(`x${p}`, t)), read('coef', t), write('y', t)];
  const body = `${APPLY_HEAD(l)}
${branches(k, l, (p) => `\n    y[j] = ${v(p)};`)}`;
  const threads = (rows * width(group)) / l;
  return { program: program(`tfjsDdpBnPartsApply_${k}_${l}_${relu}`, k, threads, bindings, body), threads };
});

/**
 * dx_p = k·dy' + a·(x_p − μ) + t (+ acc_p) over a group; bindings dy, y (under a ReLU only), coef,
 * x0…x(k−1), the accs given (acc[p]), → dx0…dx(k−1).
 */
export const backwardPartsApply = memoized(function backwardPartsApply(
  rows: number,
  C: number,
  group: PartsGroup,
  relu: boolean,
  acc: boolean[],
): { program: RawProgram; threads: number } {
  const k = group.channels.length;
  const l = partsLanes(C, group);
  const t = l === 4 ? 'vec4<f32>' : 'f32';
  const g = relu ? `select(${t}(0.0), dy[j], y[j] > ${t}(0.0))` : 'dy[j]';
  const parts = group.channels.map((_, p) => p);
  const bindings = [
    read('dy', t),
    ...(relu ? [read('y', t)] : []),
    read('coef', t),
    ...parts.map((p) => read(`x${p}`, t)),
    ...parts.filter((p) => acc[p]).map((p) => read(`acc${p}`, t)),
    ...parts.map((p) => write(`dx${p}`, t)),
  ];
  const body = `${APPLY_HEAD(l)}
  let g = ${g};
${branches(
  k,
  l,
  (p) => `
    let jp = row * P + cc;
    dx${p}[jp] = coef[gc] * g + coef[Cl + gc] * (x${p}[jp] - coef[3 * Cl + gc]) + coef[2 * Cl + gc]${acc[p] ? ` + acc${p}[jp]` : ''};`,
)}`;
  const mask = acc.map((a) => (a ? 1 : 0)).join('');
  const threads = (rows * width(group)) / l;
  return {
    program: program(`tfjsDdpBnPartsGradApply_${k}_${l}_${relu}_${mask}`, k, threads, bindings, body),
    threads,
  };
});
