// WGSL for the convs on tensor cores (TFJS_DDP_WEBGPU_CONV=mma): the forward Conv2D / FusedConv2D and
// Conv2DBackpropInput as implicit GEMMs. Forward: rows the B·OH·OW output pixels, columns the Co
// output channels, summed over KH·KW·Ci. Input gradient: rows the B·H·W pixels of dx, columns Ci,
// summed over KH·KW·Co. A workgroup computes a 64 × 32 tile. Per step of 32 along the sum it copies
// the tile's im2col rows (of x, or of dy) and the filter's rows to workgroup memory, rounded to f16,
// then four subgroups multiply them with WebGPU's experimental subgroup matrices (Dawn's
// chromium-experimental-subgroup-matrix: VK_KHR_cooperative_matrix, tensor cores on NVIDIA), f16 ×
// f16 accumulated in f32 in the shapes the adapter offers (subgroup-matrix.ts picks one). The tile
// goes back through workgroup memory for the bias, the ReLU and the bounds of the last tiles.
// `inner: 'fma'` builds the same program with the tile product as plain f32 FMAs of the same f16
// values: it runs where subgroup matrices do not (lavapipe), so the specs check the tile loads,
// bounds and epilogue against the reference loops there; the matrix instructions themselves compile
// on Dawn's null backend in the specs and run only on a GPU (the GPU check). Bindings as
// conv2d-forward-program.ts: x (dy for the gradient), W, bias (with bias), y (dx), the uniforms.
// NHWC float32, no dilation; forward: Co a multiple of 4 (convForwardCovers); gradient: Ci and Co.
import type { backend_util } from '@tensorflow/tfjs-core';
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

export interface MmaConvOptions {
  bias: boolean;
  relu: boolean;
  /** The tile product: subgroup matrices of this shape, or f32 FMAs (`'fma'`, for the specs). */
  inner: MmaShape | 'fma';
  /** Invocations per workgroup: 4 subgroups of the adapter's largest subgroup size (a multiple of it, as WGSL requires). */
  workgroupSize: number;
  /**
   * The input gradient instead (Conv2DBackpropInput; Ci and Co multiples of 4, no bias or ReLU):
   * rows the B·H·W pixels of dx, columns its Ci channels, summed over KH·KW·Co; dy in x's binding,
   * and max |dy| (recordAbsMax) in one more binding after W: dy is scaled by the power of 2 that
   * brings that maximum to [2^13, 2^14] before its rounding to f16, and dx scaled back. Gradients are
   * small (1e-6 and below is common), where f16 has few bits or none: unscaled they would lose their
   * precision or flush to zero.
   */
  gradient?: boolean;
}

/** The program and uniforms of one conv (or input gradient) as `info` says. */
export function conv2dMmaProgram(
  info: backend_util.Conv2DInfo,
  o: MmaConvOptions,
): { program: RawProgram; uniforms: ProgramUniform[] } {
  const { rows: MT, cols: NT, depth: KT } = MMA_TILE;
  const WG = o.workgroupSize;
  if ((MT * NT) % WG !== 0 || WG < 4 || (MT * KT) % WG !== 0)
    throw new Error(`conv2dMmaProgram: workgroup size ${WG} does not divide the ${MT}×${NT} tile`);
  if (o.inner !== 'fma' && !mmaShapeFits(o.inner))
    throw new Error(
      `conv2dMmaProgram: subgroup matrices ${JSON.stringify(o.inner)} do not tile ${MT}×${NT}×${KT}`,
    );
  const { batchSize: B, inChannels: Ci, outHeight: OH, outWidth: OW, outChannels: Co } = info;
  const grad = o.gradient === true;
  if (grad && (Ci % 4 !== 0 || Co % 4 !== 0 || o.bias || o.relu))
    throw new Error('conv2dMmaProgram: the input gradient takes channels in multiples of 4, no bias or ReLU');
  const cv = Ci % 4 === 0 ? 4 : 1;
  // The GEMM: P rows, N columns (cols, their uniform), Kd summed.
  const P = grad ? B * info.inHeight * info.inWidth : B * OH * OW;
  const Kd = info.filterHeight * info.filterWidth * (grad ? Co : Ci);
  const cols = grad ? 'u.Ci' : 'u.Co';
  const tilesN = Math.ceil((grad ? Ci : Co) / NT);
  const tiles = Math.ceil(P / MT) * tilesN;
  const inner = o.inner === 'fma' ? 'fma' : `${o.inner.M}x${o.inner.N}x${o.inner.K}`;
  const key = `tfjsDdpConv2DMma_${grad ? 'dx' : 'fwd'}_${inner}_${WG}_${cv}_${o.bias ? 'bias' : 'nobias'}_${o.relu ? 'relu' : 'linear'}`;
  const bindings = ['x', 'w', ...(o.bias ? ['bias'] : []), ...(grad ? ['dyMax'] : []), 'y'];
  const lanes = ['x', 'y', 'z', 'w'];
  // One vec4 of A per pass: row r, sum indices kd…kd+3; `body` sets v where it is not zero.
  const vec4A = (body: string) => `for (var e = i32(t); e < ${(MT * KT) / 4}; e += ${WG}) {
      let r = e / ${KT / 4};
      let c = (e % ${KT / 4}) * 4;
      let kd = k0 + c;
      var v = vec4<f32>(0.0);
      let b = rowB[r];
      if (kd < u.Kd && b >= 0) {
        ${body}
      }
      ${lanes.map((l, i) => `As[r * ${KT} + c + ${i}] = f16(v.${l});`).join('\n      ')}
    }`;
  // dy's element(s) at row r (a pixel of dx) and sum index kd = tap·Co + co: the output pixel whose
  // window puts tap kh, kw on it, zero where there is none (strides) or it is outside dy.
  const loadGradA = vec4A(`let tap = kd / u.Co;
        let ohn = rowIh[r] - tap / u.KW;
        let own = rowIw[r] - tap % u.KW;
        if (ohn >= 0 && own >= 0 && ohn % u.sh == 0 && own % u.sw == 0 && ohn / u.sh < u.OH && own / u.sw < u.OW) {
          v = x[(((b * u.OH + ohn / u.sh) * u.OW + own / u.sw) * u.Co + kd % u.Co) / 4] * scale;
        }`);
  // The im2col element(s) at row r, sum index kd of x: zero outside the image, the rows and the sum.
  const loadA = grad
    ? loadGradA
    : cv === 4
      ? vec4A(xAtTap('rowIh[r]', 'rowIw[r]', true))
      : `for (var e = i32(t); e < ${MT * KT}; e += ${WG}) {
      let r = e / ${KT};
      let kd = k0 + e % ${KT};
      var v = 0.0;
      let b = rowB[r];
      if (kd < u.Kd && b >= 0) {
        ${xAtTap('rowIh[r]', 'rowIw[r]', false)}
      }
      As[e] = f16(v);
    }`;
  // For the input gradient, row kd = tap·Co + co, column ci is W[tap, ci, co]: a vec4 of co is 4 rows.
  const loadGradB = `for (var e = i32(t); e < ${(KT * NT) / 4}; e += ${WG}) {
      let kk = (e / ${NT}) * 4;
      let c = e % ${NT};
      let kd = k0 + kk;
      let ci = n0 + c;
      var v = vec4<f32>(0.0);
      if (kd < u.Kd && ci < u.Ci) { v = w[((kd / u.Co * u.Ci + ci) * u.Co + kd % u.Co) / 4]; }
      ${lanes.map((l, i) => `Bs[(kk + ${i}) * ${NT} + c] = f16(v.${l});`).join('\n      ')}
    }`;
  // Rows kd of W[kh, kw, ci, co] (HWIO: row kd = (kh·KW + kw)·Ci + ci, Co columns), vec4s of channels.
  const loadForwardB = `for (var e = i32(t); e < ${(KT * NT) / 4}; e += ${WG}) {
      let kk = e / ${NT / 4};
      let c = (e % ${NT / 4}) * 4;
      let kd = k0 + kk;
      let co = n0 + c;
      var v = vec4<f32>(0.0);
      if (kd < u.Kd && co < u.Co) { v = w[(kd * u.Co + co) / 4]; }
      ${lanes.map((l, i) => `Bs[kk * ${NT} + c + ${i}] = f16(v.${l});`).join('\n      ')}
    }`;
  const loadB = grad ? loadGradB : loadForwardB;
  const { decl, product, toC } = tileProduct(o.inner, WG);
  const code = () => `${mmaEnables(o.inner)}${convUniformsWgsl(['P', 'Kd', 'tilesN', 'tiles'])}
@group(0) @binding(0) var<storage, read> x : array<${cv === 4 ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(1) var<storage, read> w : array<vec4<f32>>;
${o.bias ? '@group(0) @binding(2) var<storage, read> bias : array<vec4<f32>>;\n' : ''}${grad ? '@group(0) @binding(2) var<storage, read> dyMax : array<f32>;\n' : ''}@group(0) @binding(${bindings.length - 1}) var<storage, read_write> y : array<vec4<f32>>;
@group(0) @binding(${bindings.length}) var<uniform> u : Uniforms;
// Per row of the tile (for the input gradient, the corner is the pixel's place in the padded input).
${tileMemory('row', MT)}
${mmaMain(o.inner, WG)}
  let tile = i32(wid.y * nwg.x + wid.x);
  if (tile >= u.tiles) { return; }
  ${grad ? GRADIENT_SCALE : ''}
  let m0 = (tile / u.tilesN) * ${MT};
  let n0 = (tile % u.tilesN) * ${NT};
  for (var r = i32(t); r < ${MT}; r += ${WG}) {
    let p = m0 + r;
    rowB[r] = -1;
    if (p < u.P) {
      ${
        grad
          ? `let rest = p / u.W;
      rowB[r] = rest / u.H;
      rowIh[r] = rest % u.H + u.padTop;
      rowIw[r] = p % u.W + u.padLeft;`
          : outputPixelCorner('row', 'r')
      }
    }
  }
  workgroupBarrier();
  ${decl}
  for (var k0 = 0; k0 < u.Kd; k0 += ${KT}) {
    ${loadA}
    ${loadB}
    workgroupBarrier();
    ${product}
    workgroupBarrier();
  }
  ${toC}
  workgroupBarrier();
  for (var e = i32(t); e < ${(MT * NT) / 4}; e += ${WG}) {
    let r = e / ${NT / 4};
    let c = (e % ${NT / 4}) * 4;
    let p = m0 + r;
    let co = n0 + c;
    if (p < u.P && co < ${cols}) {
      var v = ${tileC4('r', 'c')};
      ${o.bias ? 'v += bias[co / 4];' : ''}
      ${o.relu ? 'v = max(v, vec4<f32>(0.0));' : ''}
      ${grad ? 'v = v / scale;' : ''}
      y[(p * ${cols} + co) / 4] = v;
    }
  }
}`;
  const uniforms = convUniforms(info, P, Kd, tilesN, tiles);
  return { program: { key, code, workgroups: rawWorkgroups(tiles * WG, WG) }, uniforms };
}
