// WGSL program for Conv2DBackpropInput on the webgpu backend (NHWC, float32, Ci and Co multiples of
// 4). One invocation per 4 input channels × PIXELS adjacent pixels of a row of dX, summing
// dY[b, oh, ow, :] · W[kh, kw, ci, :] over the taps that reach the pixel, in registers, with integer
// tap tests; no workgroup memory (see conv2d-backprop-filter-program.ts). Run by
// conv2d-backprop-input-webgpu.ts.
import type { backend_util } from '@tensorflow/tfjs-core';
import { flatDispatch, type WebGpuProgram } from './webgpu-backend-like';

/** Pixels of a dX row per invocation: each filter load is reused this many times. */
const PIXELS = 4;

export class Conv2DBackpropInputProgram implements WebGpuProgram {
  readonly outputShape: number[];
  readonly shaderKey = `tfjsDdpConv2DBackpropInput_${PIXELS}`;
  readonly dispatchLayout = { x: [0, 1, 2, 3] };
  readonly dispatch: [number, number, number];
  readonly workgroupSize: [number, number, number] = [64, 1, 1];
  readonly variableNames = ['dy', 'wt'];
  readonly variableComponents = [4, 4];
  readonly outputComponent = 4;
  readonly uniforms = 'pads : vec2<i32>, strides : vec2<i32>, threads : i32,';
  readonly size = false;
  readonly threads: number;

  /** Whether this program covers the layout (otherwise the caller runs the stock kernel). */
  static covers(info: backend_util.Conv2DInfo): boolean {
    return info.dataFormat === 'channelsLast' && info.inChannels % 4 === 0 && info.outChannels % 4 === 0;
  }

  constructor(info: backend_util.Conv2DInfo) {
    const { batchSize: B, inHeight: H, inWidth: W, inChannels: Ci } = info;
    this.outputShape = [B, H, W, Ci];
    this.threads = B * H * Math.ceil(W / PIXELS) * (Ci / 4);
    this.dispatch = flatDispatch(this.threads, this.workgroupSize[0]);
  }

  getUserCode(): string {
    const px = Array.from({ length: PIXELS }, (_, p) => p);
    return `
    fn main(index : i32) {
      if (index >= uniforms.threads) { return; }
      let H = uniforms.outShape[1];
      let W = uniforms.outShape[2];
      let Ci = uniforms.outShape[3];
      let OH = uniforms.dyShape[1];
      let OW = uniforms.dyShape[2];
      let Co = uniforms.dyShape[3];
      let KH = uniforms.wtShape[0];
      let KW = uniforms.wtShape[1];
      let sh = uniforms.strides[0];
      let sw = uniforms.strides[1];
      let ciBlocks = Ci / 4;
      let wBlocks = (W + ${PIXELS - 1}) / ${PIXELS};
      let ci = (index % ciBlocks) * 4;
      var rest = index / ciBlocks;
      let iw0 = (rest % wBlocks) * ${PIXELS};
      rest = rest / wBlocks;
      let ih = rest % H;
      let b = rest / H;
      ${px.map((p) => `var acc${p} = vec4<f32>(0.0);`).join('\n      ')}
      for (var kh = 0; kh < KH; kh++) {
        // Forward: ih = oh·sh − pad + kh, so this tap reaches ih from oh = (ih + pad − kh) / sh.
        let th = ih + uniforms.pads[0] - kh;
        if (th < 0 || th % sh != 0 || th / sh >= OH) { continue; }
        let dyRow = (b * OH + th / sh) * OW;
        for (var kw = 0; kw < KW; kw++) {
          let wBase = ((kh * KW + kw) * Ci + ci) * Co;
          ${px
            .map(
              (p) => `let tw${p} = iw0 + ${p} + uniforms.pads[1] - kw;
          let ok${p} = iw0 + ${p} < W && tw${p} >= 0 && tw${p} % sw == 0 && tw${p} / sw < OW;
          let d${p}Base = select(0, (dyRow + tw${p} / sw) * Co, ok${p});`,
            )
            .join('\n          ')}
          for (var co = 0; co < Co; co += 4) {
            let w0 = wt[(wBase + co) / 4];
            let w1 = wt[(wBase + Co + co) / 4];
            let w2 = wt[(wBase + 2 * Co + co) / 4];
            let w3 = wt[(wBase + 3 * Co + co) / 4];
            ${px
              .map(
                (p) => `if (ok${p}) {
              let d = dy[(d${p}Base + co) / 4];
              acc${p} += vec4<f32>(dot(d, w0), dot(d, w1), dot(d, w2), dot(d, w3));
            }`,
              )
              .join('\n            ')}
          }
        }
      }
      let outBase = ((b * H + ih) * W + iw0) * Ci + ci;
      ${px.map((p) => `if (iw0 + ${p} < W) { result[(outBase + ${p} * Ci) / 4] = acc${p}; }`).join('\n      ')}
    }
    `;
  }
}
