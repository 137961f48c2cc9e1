// WGSL program for a BatchNorm layer's moving statistic after a training step, on the webgpu
// backend: PyTorch's rule (old·m + value·s·(1 − m), s the unbiased-variance factor or 1) or
// tfjs-layers' (old − (old − value)·(1 − m)), one invocation per channel. The kernels compute it in
// three to four dispatches per statistic; this is one. Run by model/moving-statistics.ts.
import { flatDispatch, type WebGpuProgram } from './conv2d-backprop-filter-program';

export class MovingStatisticProgram implements WebGpuProgram {
  readonly outputShape: number[];
  readonly shaderKey: string;
  readonly dispatchLayout = { x: [0] };
  readonly dispatch: [number, number, number];
  readonly workgroupSize: [number, number, number] = [64, 1, 1];
  readonly variableNames = ['old', 'value'];
  readonly variableComponents = [1, 1];
  readonly outputComponent = 1;
  readonly uniforms = 'm : f32, rest : f32, scale : f32, threads : i32,';
  readonly size = false;
  readonly threads: number;

  constructor(
    size: number,
    private readonly rule: 'pytorch' | 'tfjs',
  ) {
    this.outputShape = [size];
    this.threads = size;
    this.shaderKey = `tfjsDdpMovingStatistic_${rule}`;
    this.dispatch = flatDispatch(size, this.workgroupSize[0]);
  }

  getUserCode(): string {
    const update =
      this.rule === 'pytorch'
        ? 'old[index] * uniforms.m + (value[index] * uniforms.scale) * uniforms.rest'
        : 'old[index] - (old[index] - value[index]) * uniforms.rest';
    return `
    fn main(index : i32) {
      if (index >= uniforms.threads) { return; }
      result[index] = ${update};
    }
    `;
  }
}
