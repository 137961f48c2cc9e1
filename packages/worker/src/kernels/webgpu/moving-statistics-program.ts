// WGSL for a BatchNorm layer's moving mean and variance after a training step, on the webgpu
// backend, both in one dispatch: PyTorch's rule (old·m + value·s·(1 − m), s the unbiased-variance
// factor for the variance, 1 for the mean) or tfjs-layers' (old − (old − value)·(1 − m)), one
// invocation per channel. The kernels compute each in three or four dispatches. Bindings: old mean,
// old variance, batch mean, batch variance, then the new mean and variance. Run by
// model/moving-statistics.ts through raw-dispatch.ts.
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { ProgramUniform } from './webgpu-backend-like';
import { rawIndex, rawRecorder as gpu, rawWorkgroups, type RawProgram } from './raw-dispatch';

const WG = 64;

/**
 * The new moving statistic as a WGSL expression, from `old` (an array read at i) and the batch's
 * `value`; the uniforms m and rest. Also used by the BatchNorm forward (batch-norm-programs.ts).
 */
export function blendExpression(rule: 'pytorch' | 'tfjs', old: string, value: string): string {
  return rule === 'pytorch'
    ? `${old}[i] * u.m + (${value}) * u.rest`
    : `${old}[i] - (${old}[i] - ${value}) * u.rest`;
}

export function movingStatisticsProgram(channels: number, rule: 'pytorch' | 'tfjs'): RawProgram {
  const blend = (old: string, value: string) => blendExpression(rule, old, value);
  return {
    key: `tfjsDdpMovingStatistics_${rule}`,
    workgroups: rawWorkgroups(channels, WG),
    code: () => `struct Uniforms { m : f32, rest : f32, scale : f32, threads : i32, };
@group(0) @binding(0) var<storage, read> oldMean : array<f32>;
@group(0) @binding(1) var<storage, read> oldVariance : array<f32>;
@group(0) @binding(2) var<storage, read> mean : array<f32>;
@group(0) @binding(3) var<storage, read> variance : array<f32>;
@group(0) @binding(4) var<storage, read_write> newMean : array<f32>;
@group(0) @binding(5) var<storage, read_write> newVariance : array<f32>;
@group(0) @binding(6) var<uniform> u : Uniforms;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>) {
  let i = ${rawIndex(WG)};
  if (i >= u.threads) { return; }
  newMean[i] = ${blend('oldMean', 'mean[i]')};
  newVariance[i] = ${blend('oldVariance', rule === 'pytorch' ? 'variance[i] * u.scale' : 'variance[i]')};
}`,
  };
}

/** The uniforms: momentum m, 1 − m, the variance's scale (PyTorch's unbiased factor, or 1), channels. */
export function movingStatisticsUniforms(
  momentum: number,
  scale: number,
  channels: number,
): ProgramUniform[] {
  return [
    { type: 'float32', data: [momentum] },
    { type: 'float32', data: [1 - momentum] },
    { type: 'float32', data: [scale] },
    { type: 'int32', data: [channels] },
  ];
}

/**
 * A BatchNorm training forward's moving statistics (BN_TRAIN_MOVING; `rule` null without them): the
 * new mean and variance (`moved`, outputs), and where they are computed. Where the device binds
 * `finalizeBuffers` storage buffers, in the forward's finalize: `finalizeRule` is its rule and
 * `finalizeBindings` its extra bindings. Else `apart` records a dispatch of their own.
 */
export function forwardMovingStatistics(
  backend: object,
  o: {
    rule: 'pytorch' | 'tfjs' | null;
    momentum: number | undefined;
    rows: number;
    C: number;
    finalizeBuffers: number;
  },
  olds: TensorInfo[],
) {
  const { rule, rows, C } = o;
  const moved = rule === null ? [] : [gpu.output(backend, [C]), gpu.output(backend, [C])];
  const together = rule !== null && gpu.storageBuffers(backend) >= o.finalizeBuffers;
  const moving = { momentum: o.momentum ?? 0, scale: rule === 'pytorch' && rows > 1 ? rows / (rows - 1) : 1 };
  return {
    moved,
    moving,
    finalizeRule: together ? rule : null,
    finalizeBindings: together ? [...olds, ...moved] : [],
    apart(mean: TensorInfo, variance: TensorInfo): void {
      if (rule === null || together) return;
      const uniforms = movingStatisticsUniforms(moving.momentum, moving.scale, C);
      gpu.record(backend, movingStatisticsProgram(C, rule), [...olds, mean, variance, ...moved], uniforms);
    },
  };
}
