// WGSL for the filter gradient on tensor cores (TFJS_DDP_WEBGPU_CONV=mma): Conv2DBackpropFilter and
// CONV_FILTER_BIAS_GRAD as an implicit GEMM, dW = im2col(x)ᵀ · dY. Rows are the KH·KW·Ci rows of
// dW, columns its Co channels, and the sum runs over the B·OH·OW output pixels. That sum is long
// (589,824 pixels at batch 256 on 48×48) where dW has few tiles (23 for a 3×3 160 → 32), so it is
// cut into `splits` ranges, one workgroup per tile and range. Each writes its partial dW (and dB) to
// a buffer [splits, dW then dB], and the float32 filter gradient's reduce program
// (conv2d-backprop-filter-program.ts) adds them in order. The tile product is mma-tile.ts's, as in
// conv2d-mma-program.ts: f16 tiles, f32 sums. dY is scaled into f16's range by the power of 2 that
// max |dY| calls for (abs-max-program.ts), and dW scaled back. dB is summed from the float32 dY as
// the B tiles are loaded: each invocation keeps one vec4 column's sum, and the workgroups of the
// first row of tiles write it. Bindings: x, dY, max |dY|, the partials, the uniforms. NHWC float32,
// Ci and Co multiples of 4, no dilation.
import type { backend_util } from '@tensorflow/tfjs-core';
import { filterGradReduceProgram } from './conv2d-backprop-filter-program';
import { convUniforms, convUniformsWgsl } from './conv2d-forward-program';
import {
  GRADIENT_SCALE,
  MMA_TILE,
  mmaEnables,
  mmaMain,
  mmaShapeFits,
  outputPixelCorner,
  tileC4,
  tileMemory,
  tileProduct,
  xAtTap,
  type MmaShape,
} from './mma-tile';
import { rawWorkgroups, type RawProgram } from './raw-dispatch';
import type { ProgramUniform } from './webgpu-backend-like';

/** Workgroups a filter gradient aims for (tiles × ranges): enough to fill a large GPU. */
const TARGET_GROUPS = 1024;
/** Output pixels a range sums at least. */
const MIN_CHUNK = 512;

export interface MmaFilterPlan {
  program: RawProgram;
  uniforms: ProgramUniform[];
  /** Floats of the partial buffer the program writes and `reduce` adds up. */
  partial: number;
  reduce: { program: RawProgram; uniforms: ProgramUniform[] };
}

/** Whether it covers the layer: NHWC, channel counts in multiples of 4, no dilation. */
export function mmaFilterCovers(info: backend_util.Conv2DInfo): boolean {
  return (
    info.dataFormat === 'channelsLast' &&
    info.inChannels % 4 === 0 &&
    info.outChannels % 4 === 0 &&
    info.dilationHeight === 1 &&
    info.dilationWidth === 1
  );
}

export function conv2dMmaFilterProgram(
  info: backend_util.Conv2DInfo,
  o: { bias: boolean; inner: MmaShape | 'fma'; workgroupSize: number },
): MmaFilterPlan {
  const { rows: MT, cols: NT, depth: KT } = MMA_TILE;
  const WG = o.workgroupSize;
  if (!mmaFilterCovers(info))
    throw new Error('conv2dMmaFilterProgram: channels in multiples of 4, NHWC, no dilation');
  if ((MT * NT) % WG !== 0 || WG % (NT / 4) !== 0 || WG > MT * NT)
    throw new Error(`conv2dMmaFilterProgram: workgroup size ${WG} does not divide the ${MT}×${NT} tile`);
  if (o.inner !== 'fma' && !mmaShapeFits(o.inner))
    throw new Error(`conv2dMmaFilterProgram: subgroup matrices ${JSON.stringify(o.inner)} do not tile it`);
  const { batchSize: B, inChannels: Ci, outHeight: OH, outWidth: OW, outChannels: Co } = info;
  const P = B * OH * OW;
  const Kd = info.filterHeight * info.filterWidth * Ci;
  const tilesN = Math.ceil(Co / NT);
  const tiles = Math.ceil(Kd / MT) * tilesN;
  const wanted = Math.max(1, Math.min(Math.ceil(P / MIN_CHUNK), Math.ceil(TARGET_GROUPS / tiles)));
  const chunk = Math.max(KT, Math.ceil(Math.ceil(P / wanted) / KT) * KT);
  const splits = Math.max(1, Math.ceil(P / chunk));
  const filterVecs = (Kd * Co) / 4;
  const totalVecs = filterVecs + (o.bias ? Co / 4 : 0);
  const inner = o.inner === 'fma' ? 'fma' : `${o.inner.M}x${o.inner.N}x${o.inner.K}`;
  const key = `tfjsDdpConv2DMmaFilter_${inner}_${WG}_${o.bias ? 'bias' : 'nobias'}`;
  const { decl, product, toC } = tileProduct(o.inner, WG);
  const lanes = ['x', 'y', 'z', 'w'];
  const code =
    () => `${mmaEnables(o.inner)}${convUniformsWgsl(['P', 'Kd', 'tilesN', 'tiles', 'chunk', 'splits', 'filterVecs', 'totalVecs'])}
@group(0) @binding(0) var<storage, read> x : array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> dy : array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> dyMax : array<f32>;
@group(0) @binding(3) var<storage, read_write> part : array<vec4<f32>>;
@group(0) @binding(4) var<uniform> u : Uniforms;
// Per column of this step's A tile (an output pixel).
${tileMemory('col', KT)}
${mmaMain(o.inner, WG)}
  let g = i32(wid.y * nwg.x + wid.x);
  if (g >= u.tiles * u.splits) { return; }
  let split = g / u.tiles;
  let tile = g % u.tiles;
  let m0 = (tile / u.tilesN) * ${MT};
  let n0 = (tile % u.tilesN) * ${NT};
  let pEnd = min((split + 1) * u.chunk, u.P);
  ${GRADIENT_SCALE}
  ${decl}
  ${o.bias ? 'var bacc = vec4<f32>(0.0);' : ''}
  for (var k0 = split * u.chunk; k0 < pEnd; k0 += ${KT}) {
    for (var c = i32(t); c < ${KT}; c += ${WG}) {
      let p = k0 + c;
      colB[c] = -1;
      if (p < pEnd) {
        ${outputPixelCorner('col', 'c')}
      }
    }
    workgroupBarrier();
    // A: rows kd…kd+3 (4 input channels of one tap, a vec4 of x), column c (an output pixel).
    for (var e = i32(t); e < ${(MT * KT) / 4}; e += ${WG}) {
      let r = (e / ${KT}) * 4;
      let c = e % ${KT};
      let kd = m0 + r;
      var v = vec4<f32>(0.0);
      let b = colB[c];
      if (kd < u.Kd && b >= 0) {
        ${xAtTap('colIh[c]', 'colIw[c]', true)}
      }
      ${lanes.map((l, i) => `As[(r + ${i}) * ${KT} + c] = f16(v.${l});`).join('\n      ')}
    }
    // B: row kk (an output pixel), a vec4 of channels; this invocation's column is the same every pass.
    for (var e = i32(t); e < ${(KT * NT) / 4}; e += ${WG}) {
      let kk = e / ${NT / 4};
      let c = (e % ${NT / 4}) * 4;
      let p = k0 + kk;
      var v = vec4<f32>(0.0);
      if (p < pEnd && n0 + c < u.Co) { v = dy[(p * u.Co + n0 + c) / 4]; }
      ${o.bias ? 'bacc += v;' : ''}
      ${lanes.map((l, i) => `Bs[kk * ${NT} + c + ${i}] = f16(v.${l} * scale);`).join('\n      ')}
    }
    workgroupBarrier();
    ${product}
    workgroupBarrier();
  }
  ${toC}
  workgroupBarrier();
  let out0 = split * u.totalVecs;
  for (var e = i32(t); e < ${(MT * NT) / 4}; e += ${WG}) {
    let r = e / ${NT / 4};
    let c = (e % ${NT / 4}) * 4;
    let kd = m0 + r;
    let co = n0 + c;
    if (kd < u.Kd && co < u.Co) {
      part[out0 + (kd * u.Co + co) / 4] = ${tileC4('r', 'c')} / scale;
    }
  }
  ${
    o.bias
      ? `// dB: the invocations of one column (t % ${NT / 4}) hold its sums; Cs is free again.
  workgroupBarrier();
  ${lanes.map((l, i) => `Cs[i32(t) * 4 + ${i}] = bacc.${l};`).join('\n  ')}
  workgroupBarrier();
  if (m0 == 0 && i32(t) < ${NT / 4} && n0 + i32(t) * 4 < u.Co) {
    var s = vec4<f32>(0.0);
    for (var j = i32(t); j < ${WG}; j += ${NT / 4}) { s += vec4<f32>(Cs[j * 4], Cs[j * 4 + 1], Cs[j * 4 + 2], Cs[j * 4 + 3]); }
    part[out0 + u.filterVecs + (n0 + i32(t) * 4) / 4] = s;
  }`
      : ''
  }
}`;
  const uniforms = convUniforms(info, P, Kd, tilesN, tiles, chunk, splits, filterVecs, totalVecs);
  return {
    program: { key, code, workgroups: rawWorkgroups(tiles * splits * WG, WG) },
    uniforms,
    partial: splits * totalVecs * 4,
    reduce: filterGradReduceProgram(4, o.bias, splits, filterVecs, totalVecs),
  };
}
