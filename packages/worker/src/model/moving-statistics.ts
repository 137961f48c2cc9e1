// A BatchNorm layer's moving statistics after a training step, by the seed's rule (PyTorch's:
// m·old + (1 − m)·batch, with the unbiased variance) or tfjs-layers' (old − (old − batch)·(1 − m),
// the biased variance). Where tensors live in host memory (wasm, cpu) they are computed in one host
// loop per layer instead of seven kernels, with the kernels' float32 arithmetic (each operation
// rounded to float32, the scalars float32 as tfjs makes them), so the values are bit for bit the
// same; on webgpu both in one dispatch (kernels/webgpu/moving-statistics-program.ts) instead of three
// or four per statistic; elsewhere by the kernels.
import * as tf from '@tensorflow/tfjs-core';
import { movingStatisticsProgram, movingStatisticsUniforms } from '../kernels/webgpu/moving-statistics-program';
import { rawRecorder as gpu } from '../kernels/webgpu/raw-dispatch';
import { hostBackend, hostView } from '../train/host-memory';

export type MovingRule = 'pytorch' | 'tfjs';

/** The new [moving mean, moving variance] from the old ones and the batch's (n values per channel). */
export function movingStatistics(rule: MovingRule, oldMean: tf.Tensor, oldVariance: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, momentum: number, n: number): [tf.Tensor, tf.Tensor] {
  return onHost(rule, oldMean, oldVariance, mean, variance, momentum, n) ?? onWebGpu(rule, oldMean, oldVariance, mean, variance, momentum, n) ?? withKernels(rule, oldMean, oldVariance, mean, variance, momentum, n);
}

function withKernels(rule: MovingRule, oldMean: tf.Tensor, oldVariance: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, momentum: number, n: number): [tf.Tensor, tf.Tensor] {
  if (rule === 'pytorch') {
    const unbiased = n > 1 ? tf.mul(variance, n / (n - 1)) : variance;
    const blend = (old: tf.Tensor, value: tf.Tensor) => tf.add(tf.mul(old, momentum), tf.mul(value, 1 - momentum));
    return [blend(oldMean, mean), blend(oldVariance, unbiased)];
  }
  const blend = (old: tf.Tensor, value: tf.Tensor) => tf.sub(old, tf.mul(tf.sub(old, value), 1 - momentum));
  return [blend(oldMean, mean), blend(oldVariance, variance)];
}

function onHost(rule: MovingRule, oldMean: tf.Tensor, oldVariance: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, momentum: number, n: number): [tf.Tensor, tf.Tensor] | null {
  if (!hostBackend()) return null;
  // Views, used before anything allocates on the backend (a wasm heap that grows detaches them).
  const [om, ov, bm, bv] = [oldMean, oldVariance, mean, variance].map(hostView);
  if (om == null || ov == null || bm == null || bv == null) return null;
  const f = Math.fround;
  const m = f(momentum);
  const rest = f(1 - momentum);
  const scale = f(n / (n - 1));
  const blend = (old: Float32Array, value: (k: number) => number) => {
    const out = new Float32Array(old.length);
    for (let k = 0; k < old.length; k++) out[k] = rule === 'pytorch' ? f(f(old[k]! * m) + f(value(k) * rest)) : f(old[k]! - f(f(old[k]! - value(k)) * rest));
    return out;
  };
  const newMean = blend(om, (k) => bm[k]!);
  const newVariance = blend(ov, rule === 'pytorch' && n > 1 ? (k) => f(bv[k]! * scale) : (k) => bv[k]!);
  return [tf.tensor(newMean, oldMean.shape, 'float32'), tf.tensor(newVariance, oldVariance.shape, 'float32')];
}

function onWebGpu(rule: MovingRule, oldMean: tf.Tensor, oldVariance: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, momentum: number, n: number): [tf.Tensor, tf.Tensor] | null {
  if (tf.getBackend() !== 'webgpu' || ![oldMean, oldVariance, mean, variance].every((t) => t.dtype === 'float32' && t.rank === 1 && t.size === oldMean.size) || oldMean.size === 0) return null;
  const backend = tf.backend();
  const outs = [gpu.output(backend, [oldMean.size]), gpu.output(backend, [oldMean.size])];
  const scale = rule === 'pytorch' && n > 1 ? n / (n - 1) : 1;
  gpu.record(backend, movingStatisticsProgram(oldMean.size, rule), [oldMean, oldVariance, mean, variance, ...outs], movingStatisticsUniforms(momentum, scale, oldMean.size));
  return [tf.engine().makeTensorFromTensorInfo(outs[0]!), tf.engine().makeTensorFromTensorInfo(outs[1]!)];
}
