// WGSL for Conv2DBackpropFilter on the webgpu backend (NHWC, float32). One invocation per block of
// the filter gradient — 4 input channels × 4 output channels when both counts are multiples of 4
// (vec4 loads of x and dY), fewer otherwise — summing over a range of batch × output rows in
// registers. No workgroup memory and no barriers: on lavapipe (Mesa's CPU Vulkan) the tiled matmul
// shaders' barriers cost more than the loads they save (docs/kernels.md, "webgpu"). With `bias`, the
// same dispatch also sums dY for the bias gradient, in Co/4 (or Co) extra invocations after the
// filter's: a conv layer's filter and bias gradients in one dispatch instead of three (ours, then
// tfjs' Transpose and Sum). Bindings: x, dY, dW, then dB (with bias).
//
// Split over rows: a filter has only KH·KW·Ci·Co/16 blocks (784 for the stem, 1,152–2,880 for the
// DenseNet's other layers), a few per cent of what a GPU keeps in flight, and each block's loop
// would run over all B·OH·OW output pixels (36,864 at batch 64 on 24×24, 147,456 for the stem). So
// the B·OH output rows are cut into `splits` ranges (filterGradSplits), each block's sum over one
// range is written to a partial buffer [splits, dW then dB], and a second dispatch
// (filterGradReduceProgram) adds the partials in order into dW and dB. With one split (small
// problems) the first dispatch writes dW and dB directly. Run by conv2d-backprop-filter-webgpu.ts
// through raw-dispatch.ts.
import type { backend_util } from '@tensorflow/tfjs-core';
import { GPU_FILL_THREADS, rawIndex, rawWorkgroups, type RawProgram } from './raw-dispatch';
import type { ProgramUniform } from './webgpu-backend-like';

const WG = 64;

/** Invocations a split filter gradient aims for: enough to fill a large GPU. */
export const FILTER_GRAD_TARGET_THREADS = GPU_FILL_THREADS;
/** Output pixels a split sums at least, so that a range is worth an invocation. */
export const FILTER_GRAD_MIN_PIXELS = 256;

/**
 * How the B·OH output rows are cut: `rowsPerSplit` rows per range, `splits` ranges, so that
 * `blocks` invocations per range times `splits` reach FILTER_GRAD_TARGET_THREADS where the rows
 * allow it, each range but the last at least FILTER_GRAD_MIN_PIXELS output pixels. One split: no
 * partials.
 */
export function filterGradSplits(
  blocks: number,
  rows: number,
  outWidth: number,
): { splits: number; rowsPerSplit: number } {
  const minRows = Math.ceil(FILTER_GRAD_MIN_PIXELS / Math.max(1, outWidth));
  const wanted = Math.ceil(FILTER_GRAD_TARGET_THREADS / Math.max(1, blocks));
  const most = Math.max(1, Math.floor(rows / minRows));
  const rowsPerSplit = Math.ceil(rows / Math.max(1, Math.min(wanted, most)));
  return { splits: Math.ceil(rows / rowsPerSplit), rowsPerSplit };
}

export interface FilterGradPlan {
  program: RawProgram;
  uniforms: ProgramUniform[];
  /** Row ranges; above 1, `program` writes `partial` floats and `reduce` adds them into dW and dB. */
  splits: number;
  partial: number;
  reduce?: { program: RawProgram; uniforms: ProgramUniform[] };
}

const int = (v: number): ProgramUniform => ({ type: 'int32', data: [v] });

export function conv2dBackpropFilterProgram(info: backend_util.Conv2DInfo, bias: boolean): FilterGradPlan {
  const {
    batchSize: B,
    inHeight: H,
    inWidth: W,
    inChannels: Ci,
    outHeight: OH,
    outWidth: OW,
    outChannels: Co,
    filterHeight: KH,
    filterWidth: KW,
  } = info;
  const cv = Ci % 4 === 0 ? 4 : 1;
  const ov = Co % 4 === 0 ? 4 : 1;
  const filterThreads = (KH * KW * Ci * Co) / (cv * ov);
  const blocks = filterThreads + (bias ? Co / ov : 0);
  const { splits, rowsPerSplit } = filterGradSplits(blocks, B * OH, OW);
  const split = splits > 1;
  // One split writes dW (and dB); more write partials [splits, dW then dB], in vec units.
  const filterVecs = (KH * KW * Ci * Co) / ov;
  const totalVecs = filterVecs + (bias ? Co / ov : 0);
  const acc = ov === 4 ? 'vec4<f32>' : 'f32';
  const xt = cv === 4 ? 'vec4<f32>' : 'f32';
  const lane = (j: number) => (cv === 4 ? `xv[${j}]` : 'xv');
  const sums = Array.from({ length: cv }, (_, j) => `acc${j} = fma(${acc}(${lane(j)}), d, acc${j});`).join(
    '\n          ',
  );
  const decl = Array.from({ length: cv }, (_, j) => `var acc${j} = ${acc}(0.0);`).join('\n  ');
  const dwAt = (index: string) => (split ? `part[partBase + ${index}]` : `dw[${index}]`);
  const dbAt = (index: string) => (split ? `part[partBase + u.filterVecs + ${index}]` : `db[${index}]`);
  const store = Array.from(
    { length: cv },
    (_, j) => `${dwAt(`(outBase + ${j} * Co) / ${ov}`)} = acc${j};`,
  ).join('\n  ');
  const biasLanes = bias
    ? `
  if (t >= u.filterThreads) {
    let co = (t - u.filterThreads) * ${ov};
    var s = ${acc}(0.0);
    for (var r = rowBegin * u.OW; r < rowEnd * u.OW; r++) { s += dy[(r * u.Co + co) / ${ov}]; }
    ${dbAt(`co / ${ov}`)} = s;
    return;
  }`
    : '';
  const outputs = split
    ? `@group(0) @binding(2) var<storage, read_write> part : array<${acc}>;\n`
    : `@group(0) @binding(2) var<storage, read_write> dw : array<${acc}>;\n${
        bias ? `@group(0) @binding(3) var<storage, read_write> db : array<${acc}>;\n` : ''
      }`;
  const uniformBinding = split ? 3 : bias ? 4 : 3;
  const program: RawProgram = {
    key: `tfjsDdpConv2DBackpropFilter_${cv}_${ov}_${bias}_${split}`,
    workgroups: rawWorkgroups(blocks * splits, WG),
    code: () => `struct Uniforms { B : i32, H : i32, W : i32, Ci : i32, OH : i32, OW : i32, Co : i32, KW : i32, padTop : i32, padLeft : i32, sh : i32, sw : i32, threads : i32, filterThreads : i32, blocks : i32, rowsPerSplit : i32, filterVecs : i32, totalVecs : i32, };
@group(0) @binding(0) var<storage, read> x : array<${xt}>;
@group(0) @binding(1) var<storage, read> dy : array<${acc}>;
${outputs}@group(0) @binding(${uniformBinding}) var<uniform> u : Uniforms;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>) {
  let i = ${rawIndex(WG)};
  if (i >= u.threads) { return; }
  // Invocation i: block t of the filter (or bias) over output rows [rowBegin, rowEnd) of split i / blocks.
  let t = i % u.blocks;
  let rowBegin = (i / u.blocks) * u.rowsPerSplit;
  let rowEnd = min(u.B * u.OH, rowBegin + u.rowsPerSplit);
  ${split ? `let partBase = (i / u.blocks) * u.totalVecs;` : ''}${biasLanes}
  let H = u.H;
  let W = u.W;
  let Ci = u.Ci;
  let OH = u.OH;
  let OW = u.OW;
  let Co = u.Co;
  let coBlocks = Co / ${ov};
  let ciBlocks = Ci / ${cv};
  let co = (t % coBlocks) * ${ov};
  let rest = t / coBlocks;
  let ci = (rest % ciBlocks) * ${cv};
  let k = rest / ciBlocks;
  let kh = k / u.KW;
  let kw = k % u.KW;
  let sh = u.sh;
  let sw = u.sw;
  // Output rows/columns whose input pixel (o·s − pad + k) lies inside x: no bounds test in the loop.
  let nh = u.padTop - kh;
  let nw = u.padLeft - kw;
  let ohBegin = select(0, (nh + sh - 1) / sh, nh > 0);
  let owBegin = select(0, (nw + sw - 1) / sw, nw > 0);
  let ohEnd = min(OH, (H - 1 + nh) / sh + 1);
  let owEnd = min(OW, (W - 1 + nw) / sw + 1);
  ${decl}
  if (H - 1 + nh >= 0 && W - 1 + nw >= 0) {
    for (var r = rowBegin; r < rowEnd; r++) {
      let b = r / OH;
      let oh = r % OH;
      if (oh < ohBegin || oh >= ohEnd) { continue; }
      let xRow = ((b * H + oh * sh - nh) * W) * Ci + ci;
      let dyRow = r * OW * Co + co;
      for (var ow = owBegin; ow < owEnd; ow++) {
        let xv = x[(xRow + (ow * sw - nw) * Ci) / ${cv}];
        let d = dy[(dyRow + ow * Co) / ${ov}];
        ${sums}
      }
    }
  }
  let outBase = ((kh * u.KW + kw) * Ci + ci) * Co + co;
  ${store}
}`,
  };
  const uniforms = [
    B,
    H,
    W,
    Ci,
    OH,
    OW,
    Co,
    KW,
    info.padInfo.top,
    info.padInfo.left,
    info.strideHeight,
    info.strideWidth,
    blocks * splits,
    filterThreads,
    blocks,
    rowsPerSplit,
    filterVecs,
    totalVecs,
  ].map(int);
  const plan: FilterGradPlan = { program, uniforms, splits, partial: split ? splits * totalVecs * ov : 0 };
  if (split) plan.reduce = filterGradReduceProgram(ov, bias, splits, filterVecs, totalVecs);
  return plan;
}

/**
 * Adds the `splits` partials [splits, totalVecs] in order into dW (the first filterVecs) and dB; the
 * subgroup-matrix filter gradient (conv2d-mma-filter-program.ts) writes the same layout.
 */
export function filterGradReduceProgram(
  ov: number,
  bias: boolean,
  splits: number,
  filterVecs: number,
  totalVecs: number,
): { program: RawProgram; uniforms: ProgramUniform[] } {
  const acc = ov === 4 ? 'vec4<f32>' : 'f32';
  const program: RawProgram = {
    key: `tfjsDdpConv2DBackpropFilterReduce_${ov}_${bias}`,
    workgroups: rawWorkgroups(totalVecs, WG),
    code: () => `struct Uniforms { splits : i32, filterVecs : i32, totalVecs : i32, };
@group(0) @binding(0) var<storage, read> part : array<${acc}>;
@group(0) @binding(1) var<storage, read_write> dw : array<${acc}>;
${bias ? `@group(0) @binding(2) var<storage, read_write> db : array<${acc}>;\n` : ''}@group(0) @binding(${bias ? 3 : 2}) var<uniform> u : Uniforms;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>) {
  let i = ${rawIndex(WG)};
  if (i >= u.totalVecs) { return; }
  var s = ${acc}(0.0);
  for (var k = 0; k < u.splits; k++) { s += part[k * u.totalVecs + i]; }
  ${bias ? 'if (i >= u.filterVecs) { db[i - u.filterVecs] = s; return; }\n  ' : ''}dw[i] = s;
}`,
  };
  return { program, uniforms: [splits, filterVecs, totalVecs].map(int) };
}
