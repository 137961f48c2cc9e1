// WGSL for Conv2DBackpropFilter on the webgpu backend (NHWC, float32). One invocation per block of
// the filter gradient — 4 input channels × 4 output channels when both counts are multiples of 4
// (vec4 loads of x and dY), fewer otherwise — summing over batch × output pixels in registers. No
// workgroup memory and no barriers: on lavapipe (Mesa's CPU Vulkan) the tiled matmul shaders'
// barriers cost more than the loads they save (docs/kernels.md, "webgpu"). With `bias`, the same
// dispatch also sums dY over batch × output pixels for the bias gradient, in Co/4 (or Co) extra
// invocations after the filter's, each as long as a filter invocation: a conv layer's filter and
// bias gradients in one dispatch instead of three (ours, then tfjs' Transpose and Sum). Bindings: x,
// dY, dW, then dB (with bias). Run by conv2d-backprop-filter-webgpu.ts through raw-dispatch.ts.
import type { backend_util } from '@tensorflow/tfjs-core';
import { rawIndex, rawWorkgroups, type RawProgram } from './raw-dispatch';
import type { ProgramUniform } from './webgpu-backend-like';

const WG = 64;

export function conv2dBackpropFilterProgram(
  info: backend_util.Conv2DInfo,
  bias: boolean,
): { program: RawProgram; uniforms: ProgramUniform[] } {
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
  const threads = filterThreads + (bias ? Co / ov : 0);
  const acc = ov === 4 ? 'vec4<f32>' : 'f32';
  const xt = cv === 4 ? 'vec4<f32>' : 'f32';
  const lane = (j: number) => (cv === 4 ? `xv[${j}]` : 'xv');
  const sums = Array.from({ length: cv }, (_, j) => `acc${j} = fma(${acc}(${lane(j)}), d, acc${j});`).join(
    '\n          ',
  );
  const decl = Array.from({ length: cv }, (_, j) => `var acc${j} = ${acc}(0.0);`).join('\n  ');
  const store = Array.from({ length: cv }, (_, j) => `dw[(outBase + ${j} * Co) / ${ov}] = acc${j};`).join(
    '\n  ',
  );
  const biasLanes = bias
    ? `
  if (i >= u.filterThreads) {
    let co = (i - u.filterThreads) * ${ov};
    var s = ${acc}(0.0);
    let rows = u.B * u.OH * u.OW;
    for (var r = 0; r < rows; r++) { s += dy[(r * u.Co + co) / ${ov}]; }
    db[co / ${ov}] = s;
    return;
  }`
    : '';
  const program: RawProgram = {
    key: `tfjsDdpConv2DBackpropFilter_${cv}_${ov}_${bias}`,
    workgroups: rawWorkgroups(threads, WG),
    code: () => `struct Uniforms { B : i32, H : i32, W : i32, Ci : i32, OH : i32, OW : i32, Co : i32, KW : i32, padTop : i32, padLeft : i32, sh : i32, sw : i32, threads : i32, filterThreads : i32, };
@group(0) @binding(0) var<storage, read> x : array<${xt}>;
@group(0) @binding(1) var<storage, read> dy : array<${acc}>;
@group(0) @binding(2) var<storage, read_write> dw : array<${acc}>;
${bias ? `@group(0) @binding(3) var<storage, read_write> db : array<${acc}>;\n` : ''}@group(0) @binding(${bias ? 4 : 3}) var<uniform> u : Uniforms;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>) {
  let i = ${rawIndex(WG)};
  if (i >= u.threads) { return; }${biasLanes}
  let H = u.H;
  let W = u.W;
  let Ci = u.Ci;
  let OH = u.OH;
  let OW = u.OW;
  let Co = u.Co;
  let coBlocks = Co / ${ov};
  let ciBlocks = Ci / ${cv};
  let co = (i % coBlocks) * ${ov};
  let rest = i / coBlocks;
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
    for (var b = 0; b < u.B; b++) {
      for (var oh = ohBegin; oh < ohEnd; oh++) {
        let xRow = ((b * H + oh * sh - nh) * W) * Ci + ci;
        let dyRow = ((b * OH + oh) * OW) * Co + co;
        for (var ow = owBegin; ow < owEnd; ow++) {
          let xv = x[(xRow + (ow * sw - nw) * Ci) / ${cv}];
          let d = dy[(dyRow + ow * Co) / ${ov}];
          ${sums}
        }
      }
    }
  }
  let outBase = ((kh * u.KW + kw) * Ci + ci) * Co + co;
  ${store}
}`,
  };
  const int = (v: number): ProgramUniform => ({ type: 'int32', data: [v] });
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
    threads,
    filterThreads,
  ].map(int);
  return { program, uniforms };
}
