// WGSL for Conv2DBackpropInput on the webgpu backend (NHWC, float32, Ci and Co multiples of 4). One
// invocation per 4·`cib` input channels × PIXELS adjacent pixels of a row of dX, summing
// dY[b, oh, ow, :] · W[kh, kw, ci, :] over the taps that reach the pixel, in registers, with integer
// tap tests: each dY vec4 serves 4·cib input channels and each filter vec4 the PIXELS pixels. No
// workgroup memory (see conv2d-backprop-filter-program.ts). The shapes are uniforms, so one
// pipeline serves every layer. Bindings: dY, W, dX, the uniforms. Run by
// conv2d-backprop-input-webgpu.ts through raw-dispatch.ts.
import type { backend_util } from '@tensorflow/tfjs-core';
import { CONV_UNIFORMS_WGSL, convUniforms } from './conv2d-forward-program';
import { GPU_FILL_THREADS, rawIndex, rawWorkgroups, type RawProgram } from './raw-dispatch';
import type { ProgramUniform } from './webgpu-backend-like';

const WG = 64;
/** Pixels of a dX row per invocation: each filter load is reused this many times. */
const PIXELS = 4;

/** Whether our program covers the layout (otherwise the caller runs the stock kernel). */
export function backpropInputCovers(info: backend_util.Conv2DInfo): boolean {
  return info.dataFormat === 'channelsLast' && info.inChannels % 4 === 0 && info.outChannels % 4 === 0;
}

/** `fill`: the invocations below which each keeps to 4 input channels (the specs lower it to test the wide path). */
export function conv2dBackpropInputProgram(
  info: backend_util.Conv2DInfo,
  fill = GPU_FILL_THREADS,
): {
  program: RawProgram;
  uniforms: ProgramUniform[];
} {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Ci } = info;
  // Two vec4s of input channels per invocation where Ci allows and enough invocations remain to
  // fill a large GPU: twice the use of each dY load.
  const wide = B * H * Math.ceil(W / PIXELS) * (Ci / 8);
  const cib = Ci % 8 === 0 && wide >= fill ? 2 : 1;
  const ciBlocks = Ci / (4 * cib);
  const wBlocks = Math.ceil(W / PIXELS);
  const threads = B * H * wBlocks * ciBlocks;
  const px = Array.from({ length: PIXELS }, (_, p) => p);
  const cb = Array.from({ length: cib }, (_, j) => j);
  const rows = Array.from({ length: 4 * cib }, (_, r) => r);
  const code = () => `${CONV_UNIFORMS_WGSL}
@group(0) @binding(0) var<storage, read> dy : array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> w : array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dx : array<vec4<f32>>;
@group(0) @binding(3) var<uniform> u : Uniforms;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>) {
  let index = ${rawIndex(WG)};
  if (index >= u.threads) { return; }
  let ci = (index % u.blocks) * ${4 * cib};
  var rest = index / u.blocks;
  let iw0 = (rest % u.wBlocks) * ${PIXELS};
  rest = rest / u.wBlocks;
  let ih = rest % u.H;
  let b = rest / u.H;
  let co4 = u.Co / 4;
  ${cb.flatMap((j) => px.map((p) => `var a${p}_${j} = vec4<f32>(0.0);`)).join('\n  ')}
  for (var kh = 0; kh < u.KH; kh++) {
    // Forward: ih = oh·sh − pad + kh, so this tap reaches ih from oh = (ih + pad − kh) / sh.
    let th = ih + u.padTop - kh;
    if (th < 0 || th % u.sh != 0 || th / u.sh >= u.OH) { continue; }
    let dyRow = (b * u.OH + th / u.sh) * u.OW;
    for (var kw = 0; kw < u.KW; kw++) {
      ${px
        .map(
          (p) => `let tw${p} = iw0 + ${p} + u.padLeft - kw;
      let ok${p} = iw0 + ${p} < u.W && tw${p} >= 0 && tw${p} % u.sw == 0 && tw${p} / u.sw < u.OW;
      let d${p}Base = select(0, (dyRow + tw${p} / u.sw) * co4, ok${p});`,
        )
        .join('\n      ')}
      // W[kh, kw, ci + r, co…] at vec4 index ((kh·KW + kw)·Ci + ci + r)·Co/4 + co/4.
      let wBase = ((kh * u.KW + kw) * u.Ci + ci) * co4;
      for (var c = 0; c < co4; c++) {
        ${rows.map((r) => `let w${r} = w[wBase + ${r} * co4 + c];`).join('\n        ')}
        ${px
          .map(
            (p) => `if (ok${p}) {
          let d = dy[d${p}Base + c];
          ${cb
            .map(
              (j) =>
                `a${p}_${j} += vec4<f32>(${[0, 1, 2, 3].map((k) => `dot(d, w${4 * j + k})`).join(', ')});`,
            )
            .join('\n          ')}
        }`,
          )
          .join('\n        ')}
      }
    }
  }
  let outRow = ((b * u.H + ih) * u.W + iw0) * (u.Ci / 4) + ci / 4;
  ${cb
    .flatMap((j) =>
      px.map((p) => `if (iw0 + ${p} < u.W) { dx[outRow + ${p} * (u.Ci / 4) + ${j}] = a${p}_${j}; }`),
    )
    .join('\n  ')}
}`;
  return {
    program: {
      key: `tfjsDdpConv2DBackpropInput_${PIXELS}x${cib}`,
      code,
      workgroups: rawWorkgroups(threads, WG),
    },
    uniforms: convUniforms(info, ciBlocks, wBlocks, threads),
  };
}
