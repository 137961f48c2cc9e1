// WGSL program for a BatchNorm layer's moving statistic after a training step, on the webgpu
// backend: PyTorch's rule (old·m + value·s·(1 − m), s the unbiased-variance factor or 1) or
// tfjs-layers' (old − (old − value)·(1 − m)), one invocation per channel. The kernels compute it in
// three to four dispatches per statistic; this is one. Run by model/moving-statistics.ts; uniforms:
// m, rest (1 − m), scale, then threads.
import { FlatProgram } from './flat-program';

export class MovingStatisticProgram extends FlatProgram {
  readonly shaderKey: string;

  constructor(
    size: number,
    private readonly rule: 'pytorch' | 'tfjs',
  ) {
    super(size, ['old', 'value'], 'm : f32, rest : f32, scale : f32,');
    this.shaderKey = `tfjsDdpMovingStatistic_${rule}`;
  }

  protected element(): string {
    return this.rule === 'pytorch'
      ? 'old[index] * uniforms.m + (value[index] * uniforms.scale) * uniforms.rest'
      : 'old[index] - (old[index] - value[index]) * uniforms.rest';
  }
}
