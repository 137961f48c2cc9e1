// WGSL program for Conv2DBackpropFilter on the webgpu backend (NHWC, float32). One invocation per
// block of the filter gradient — 4 input channels × 4 output channels when both counts are multiples
// of 4 (vec4 loads of x and dY), fewer otherwise — summing over batch × output pixels in registers.
// No workgroup memory and no barriers: on lavapipe (Mesa's CPU Vulkan) the tiled matmul shaders'
// barriers cost more than the loads they save (docs/kernels.md, "webgpu"). Run by
// conv2d-backprop-filter-webgpu.ts.
import type { backend_util } from '@tensorflow/tfjs-core';

/** The fields tfjs' `runWebGPUProgram` reads from a program (its WebGPUProgram interface). */
export interface WebGpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  variableNames: string[];
  variableComponents: number[];
  outputComponent: number;
  uniforms: string;
  size: boolean;
  getUserCode(): string;
}

const MAX_WORKGROUPS_PER_DIM = 65535;

/** A flat dispatch of `threads` invocations, folded into y when x would exceed the WebGPU limit. */
export function flatDispatch(threads: number, workgroupSize: number): [number, number, number] {
  const groups = Math.ceil(threads / workgroupSize);
  return groups <= MAX_WORKGROUPS_PER_DIM ? [groups, 1, 1] : [MAX_WORKGROUPS_PER_DIM, Math.ceil(groups / MAX_WORKGROUPS_PER_DIM), 1];
}

export class Conv2DBackpropFilterProgram implements WebGpuProgram {
  readonly outputShape: number[];
  readonly shaderKey: string;
  readonly dispatchLayout = { x: [0, 1, 2, 3] };
  readonly dispatch: [number, number, number];
  readonly workgroupSize: [number, number, number] = [64, 1, 1];
  readonly variableNames = ['x', 'dy'];
  readonly variableComponents: number[];
  readonly outputComponent: number;
  readonly uniforms = 'pads : vec2<i32>, strides : vec2<i32>, threads : i32,';
  readonly size = false;
  /** Input channels per invocation (4 when Ci % 4 = 0, read as one vec4). */
  private readonly ciPerThread: number;
  /** Output channels per invocation (4 when Co % 4 = 0, read and written as one vec4). */
  private readonly coPerThread: number;
  /** Invocations: one per [kh, kw, ci block, co block]; the `threads` uniform. */
  readonly threads: number;

  constructor(info: backend_util.Conv2DInfo) {
    const { filterHeight: KH, filterWidth: KW, inChannels: Ci, outChannels: Co } = info;
    this.ciPerThread = Ci % 4 === 0 ? 4 : 1;
    this.coPerThread = Co % 4 === 0 ? 4 : 1;
    this.outputShape = [KH, KW, Ci, Co];
    this.variableComponents = [this.ciPerThread, this.coPerThread];
    this.outputComponent = this.coPerThread;
    this.threads = (KH * KW * Ci * Co) / (this.ciPerThread * this.coPerThread);
    this.dispatch = flatDispatch(this.threads, this.workgroupSize[0]);
    this.shaderKey = `tfjsDdpConv2DBackpropFilter_${this.ciPerThread}_${this.coPerThread}`;
  }

  getUserCode(): string {
    const cv = this.ciPerThread;
    const ov = this.coPerThread;
    const acc = ov === 4 ? 'vec4<f32>' : 'f32';
    const lane = (j: number) => (cv === 4 ? `xv[${j}]` : 'xv');
    const sums = Array.from({ length: cv }, (_, j) => `acc${j} = fma(vec_t(${lane(j)}), d, acc${j});`).join('\n              ');
    const decl = Array.from({ length: cv }, (_, j) => `var acc${j} = ${acc}(0.0);`).join('\n      ');
    const store = Array.from({ length: cv }, (_, j) => `result[(outBase + ${j} * Co) / ${ov}] = acc${j};`).join('\n        ');
    return `
    alias vec_t = ${acc};
    fn main(index : i32) {
      if (index >= uniforms.threads) { return; }
      let B = uniforms.xShape[0];
      let H = uniforms.xShape[1];
      let W = uniforms.xShape[2];
      let Ci = uniforms.xShape[3];
      let OH = uniforms.dyShape[1];
      let OW = uniforms.dyShape[2];
      let Co = uniforms.dyShape[3];
      let KW = uniforms.outShape[1];
      let coBlocks = Co / ${ov};
      let ciBlocks = Ci / ${cv};
      let co = (index % coBlocks) * ${ov};
      let rest = index / coBlocks;
      let ci = (rest % ciBlocks) * ${cv};
      let k = rest / ciBlocks;
      let kh = k / KW;
      let kw = k % KW;
      let sh = uniforms.strides[0];
      let sw = uniforms.strides[1];
      // Output rows/columns whose input pixel (o·s − pad + k) lies inside x: no bounds test in the loop.
      let nh = uniforms.pads[0] - kh;
      let nw = uniforms.pads[1] - kw;
      let ohBegin = select(0, (nh + sh - 1) / sh, nh > 0);
      let owBegin = select(0, (nw + sw - 1) / sw, nw > 0);
      let ohEnd = min(OH, (H - 1 + nh) / sh + 1);
      let owEnd = min(OW, (W - 1 + nw) / sw + 1);
      ${decl}
      if (H - 1 + nh >= 0 && W - 1 + nw >= 0) {
        for (var b = 0; b < B; b++) {
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
      let outBase = ((kh * KW + kw) * Ci + ci) * Co + co;
      ${store}
    }
    `;
  }
}
