// WGSL for the forward Conv2D and FusedConv2D (bias, ReLU) on the webgpu backend (NHWC, float32, Co
// a multiple of 4, no dilation). One invocation per PIXELS adjacent output pixels of a row ×
// 4·`cob` output channels, summing x[b, ih, iw, :] · W[kh, kw, :, co…] over the taps in registers:
// each vec4 of x (a scalar where Ci is not a multiple of 4: the seed's stem, Ci = 1) is used for
// 4·cob output channels and each filter vec4 for PIXELS pixels. No
// workgroup memory and no barriers, as our conv gradients (conv2d-backprop-filter-program.ts says
// why); in place of tfjs' Conv2DMMProgram, an implicit GEMM with 32×32 tiles in workgroup memory,
// which was half the GPU time of a training step on lavapipe (docs/benchmarks.md). The shapes are
// uniforms, so one pipeline serves every layer with the same bias and activation. Bindings: x, W,
// then bias (with bias), the output, the uniforms. Run by conv2d-forward-webgpu.ts through
// raw-dispatch.ts. With `f16` (TFJS_DDP_WEBGPU_F16=1) the same program multiplies in half precision
// and accumulates in float32 (docs/kernels.md, "webgpu: f16").
import type { backend_util } from '@tensorflow/tfjs-core';
import { GPU_FILL_THREADS, rawIndex, rawWorkgroups, type RawProgram } from './raw-dispatch';
import type { ProgramUniform } from './webgpu-backend-like';

const WG = 64;
/** Output pixels of a row per invocation: each filter load serves this many. */
const PIXELS = 4;

export interface ConvForwardPlan {
  program: RawProgram;
  uniforms: ProgramUniform[];
}

/** Whether our program covers the layer (otherwise the stock kernel runs). */
export function convForwardCovers(info: backend_util.Conv2DInfo): boolean {
  return (
    info.dataFormat === 'channelsLast' &&
    info.outChannels % 4 === 0 &&
    info.dilationHeight === 1 &&
    info.dilationWidth === 1
  );
}

const int = (v: number): ProgramUniform => ({ type: 'int32', data: [v] });

/** A Uniforms struct of a conv layer's shapes (H … padLeft, convUniforms' order), then `extra` i32 fields. */
export function convUniformsWgsl(extra: readonly string[]): string {
  return `struct Uniforms {
  H : i32, W : i32, Ci : i32, OH : i32, OW : i32, Co : i32, KH : i32, KW : i32,
  sh : i32, sw : i32, padTop : i32, padLeft : i32, ${extra.map((f) => `${f} : i32`).join(', ')},
};`;
}

/**
 * The uniforms of our forward conv and input-gradient programs: the layer's shapes, then the
 * invocation grid (`blocks` channel blocks × `wBlocks` pixel blocks per row, `threads` invocations).
 */
export const CONV_UNIFORMS_WGSL = convUniformsWgsl(['blocks', 'wBlocks', 'threads']);

/** The values of a convUniformsWgsl struct: the layer's shapes, then `extra` in its fields' order. */
export function convUniforms(info: backend_util.Conv2DInfo, ...extra: number[]): ProgramUniform[] {
  const { inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = info;
  return [
    ...[inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth],
    ...[info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left, ...extra],
  ].map(int);
}

/** `fill`: the invocations below which each keeps to 4 output channels (the specs lower it to test the wide path). */
export function conv2dForwardProgram(
  info: backend_util.Conv2DInfo,
  o: { bias: boolean; relu: boolean; f16?: boolean },
  fill = GPU_FILL_THREADS,
): ConvForwardPlan {
  const { batchSize: B, inChannels: Ci, outHeight: OH, outWidth: OW, outChannels: Co } = info;
  // Two vec4s of output channels per invocation where Co allows and enough invocations remain to
  // fill a large GPU: twice the use of each x load.
  const wide = B * OH * Math.ceil(OW / PIXELS) * (Co / 8);
  const cob = Co % 8 === 0 && wide >= fill ? 2 : 1;
  // x as vec4s where Ci allows, else as scalars (one filter row per input channel).
  const cv = Ci % 4 === 0 ? 4 : 1;
  const coBlocks = Co / (4 * cob);
  const wBlocks = Math.ceil(OW / PIXELS);
  const threads = B * OH * wBlocks * coBlocks;
  const px = Array.from({ length: PIXELS }, (_, p) => p);
  const cb = Array.from({ length: cob }, (_, j) => j);
  const bindings = ['x', 'w', ...(o.bias ? ['bias'] : []), 'y'];
  const rows = Array.from({ length: cv }, (_, r) => r);
  const lanes = cv === 4 ? ['x', 'y', 'z', 'w'].map((l) => `v.${l}`) : ['v'];
  // f16 (TFJS_DDP_WEBGPU_F16=1, a device with shader-f16): x and W rounded to half precision as they
  // are loaded, each vec4 of input channels' products summed in f16, the sums accumulated in f32.
  const f16 = o.f16 === true;
  const half = (e: string, vec: boolean) => (f16 ? `${vec ? 'vec4<f16>' : 'f16'}(${e})` : e);
  const tapSum = (terms: string) => (f16 ? `vec4<f32>(${terms})` : terms);
  const key = `tfjsDdpConv2D_${PIXELS}x${cob}_${cv}_${o.bias ? 'bias' : 'nobias'}_${o.relu ? 'relu' : 'linear'}${f16 ? '_f16' : ''}`;
  const code = () => `${f16 ? 'enable f16;\n' : ''}${CONV_UNIFORMS_WGSL}
@group(0) @binding(0) var<storage, read> x : array<${cv === 4 ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(1) var<storage, read> w : array<vec4<f32>>;
${o.bias ? '@group(0) @binding(2) var<storage, read> bias : array<vec4<f32>>;\n' : ''}@group(0) @binding(${bindings.length - 1}) var<storage, read_write> y : array<vec4<f32>>;
@group(0) @binding(${bindings.length}) var<uniform> u : Uniforms;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>) {
  let index = ${rawIndex(WG)};
  if (index >= u.threads) { return; }
  let co = (index % u.blocks) * ${4 * cob};
  var rest = index / u.blocks;
  let ow0 = (rest % u.wBlocks) * ${PIXELS};
  rest = rest / u.wBlocks;
  let oh = rest % u.OH;
  let b = rest / u.OH;
  let ci4 = u.Ci / ${cv};
  let co4 = u.Co / 4;
  ${cb.flatMap((j) => px.map((p) => `var a${p}_${j} = vec4<f32>(0.0);`)).join('\n  ')}
  for (var kh = 0; kh < u.KH; kh++) {
    let ih = oh * u.sh - u.padTop + kh;
    if (ih < 0 || ih >= u.H) { continue; }
    let xRow = (b * u.H + ih) * u.W;
    for (var kw = 0; kw < u.KW; kw++) {
      ${px
        .map(
          (p) => `let iw${p} = (ow0 + ${p}) * u.sw - u.padLeft + kw;
      let ok${p} = ow0 + ${p} < u.OW && iw${p} >= 0 && iw${p} < u.W;
      let x${p}Base = select(0, (xRow + iw${p}) * ci4, ok${p});`,
        )
        .join('\n      ')}
      // W[kh, kw, ci + r, co…] at vec4 index ((kh·KW + kw)·Ci + ci + r)·Co/4 + co/4 (+ j), ci = c·cv.
      var wAt = (kh * u.KW + kw) * u.Ci * co4 + co / 4;
      for (var c = 0; c < ci4; c++) {
        ${cb
          .flatMap((j) => rows.map((r) => `let w${r}_${j} = ${half(`w[wAt + ${r} * co4 + ${j}]`, true)};`))
          .join('\n        ')}
        ${px
          .map(
            (p) => `if (ok${p}) {
          let v = ${half(`x[x${p}Base + c]`, cv === 4)};
          ${cb.map((j) => `a${p}_${j} += ${tapSum(rows.map((r) => `${lanes[r]} * w${r}_${j}`).join(' + '))};`).join('\n          ')}
        }`,
          )
          .join('\n        ')}
        wAt += ${cv} * co4;
      }
    }
  }
  let outRow = ((b * u.OH + oh) * u.OW + ow0) * co4 + co / 4;
  ${cb
    .flatMap((j) =>
      px.map((p) => {
        const biased = o.bias ? `a${p}_${j} + bias[co / 4 + ${j}]` : `a${p}_${j}`;
        const value = o.relu ? `max(${biased}, vec4<f32>(0.0))` : biased;
        return `if (ow0 + ${p} < u.OW) { y[outRow + ${p} * co4 + ${j}] = ${value}; }`;
      }),
    )
    .join('\n  ')}
}`;
  return {
    program: { key, code, workgroups: rawWorkgroups(threads, WG) },
    uniforms: convUniforms(info, coBlocks, wBlocks, threads),
  };
}
