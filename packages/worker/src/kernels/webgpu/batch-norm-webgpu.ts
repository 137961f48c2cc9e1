// The training-mode BatchNorm (+ ReLU) kernels, BN_TRAIN and BN_GRAD of ../batch-norm-relu.ts, on
// the webgpu backend: three dispatches each (sums, finalize, apply; batch-norm-programs.ts) through
// raw-dispatch.ts, which lets one dispatch write several outputs. The op that runs them, and the
// composite where a backend lacks them, is model/fast-batch-norm.ts. Registered by fast-kernels.ts.
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { BN_GRAD, BN_TRAIN, type BatchNormTrainAttrs } from '../batch-norm-relu';
import {
  applyThreads,
  backwardApply,
  backwardFinalize,
  backwardSums,
  bnUniforms,
  chunking,
  forwardApply,
  forwardFinalize,
  forwardSums,
} from './batch-norm-programs';
import { forwardMovingStatistics } from './moving-statistics-program';
import { rawRecorder as gpu } from './raw-dispatch';

function geometry(x: TensorInfo): { C: number; size: number; rows: number } {
  const C = x.shape[x.shape.length - 1]!;
  const size = x.shape.reduce((a, c) => a * c, 1);
  return { C, size, rows: size / C };
}

/**
 * x [..., C], gamma [C], beta [C] → y, batch mean, biased variance, 1/√(var + ε); with the optional
 * inputs movingMean and movingVariance (BN_TRAIN_MOVING), then their new values too.
 */
const batchNormTrain: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, gamma, beta, movingMean, movingVariance } = inputs as Record<
    'x' | 'gamma' | 'beta',
    TensorInfo
  > &
    Partial<Record<'movingMean' | 'movingVariance', TensorInfo>>;
  const { epsilon, relu, movingRule, momentum } = attrs as unknown as BatchNormTrainAttrs;
  const rule =
    movingMean === undefined || movingVariance === undefined || movingRule === undefined ? null : movingRule;
  const { C, size, rows } = geometry(x);
  const partial = gpu.output(backend, [chunking(rows).chunks, 2, C]);
  const coef = gpu.output(backend, [3, C]);
  const [y, mean, variance, invStd] = [x.shape.slice(), [C], [C], [C]].map((s) => gpu.output(backend, s)) as [
    TensorInfo,
    TensorInfo,
    TensorInfo,
    TensorInfo,
  ];
  gpu.record(backend, forwardSums(rows, C), [x, partial], bnUniforms(rows, C, chunking(rows).chunks * C));
  // Twelve storage buffers for the finalize with the moving statistics.
  const ms = forwardMovingStatistics(
    backend,
    { rule, momentum, rows, C, finalizeBuffers: 12 },
    rule === null ? [] : [movingMean!, movingVariance!],
  );
  gpu.record(
    backend,
    forwardFinalize(C, ms.finalizeRule),
    [partial, x, gamma, beta, mean, variance, invStd, coef, ...ms.finalizeBindings],
    bnUniforms(rows, C, C, epsilon, ms.moving),
  );
  ms.apart(mean, variance);
  gpu.record(backend, forwardApply(size, C, relu), [x, coef, y], bnUniforms(rows, C, applyThreads(size, C)));
  gpu.release(backend, partial);
  gpu.release(backend, coef);
  return [y, mean, variance, invStd, ...ms.moved];
};

/**
 * dy, x, y, mean, invStd, gamma → dx, dγ, dβ (through the ReLU when `relu`: where y > 0 only); with
 * the optional input acc, dx + acc (BN_GRAD_ACCUMULATES in ../batch-norm-relu.ts).
 */
const batchNormGrad: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, x, y, mean, invStd, gamma, acc } = inputs as Record<
    'dy' | 'x' | 'y' | 'mean' | 'invStd' | 'gamma',
    TensorInfo
  > & {
    acc?: TensorInfo;
  };
  const { relu } = attrs as unknown as Pick<BatchNormTrainAttrs, 'relu'>;
  const { C, size, rows } = geometry(x);
  const partial = gpu.output(backend, [chunking(rows).chunks, 2, C]);
  const coef = gpu.output(backend, [4, C]);
  const [dx, dGamma, dBeta] = [x.shape.slice(), [C], [C]].map((s) => gpu.output(backend, s)) as [
    TensorInfo,
    TensorInfo,
    TensorInfo,
  ];
  const masked = relu ? [y] : [];
  gpu.record(
    backend,
    backwardSums(rows, C, relu),
    [dy, x, ...masked, mean, partial],
    bnUniforms(rows, C, chunking(rows).chunks * C),
  );
  gpu.record(
    backend,
    backwardFinalize(C),
    [partial, mean, invStd, gamma, dGamma, dBeta, coef],
    bnUniforms(rows, C, C),
  );
  gpu.record(
    backend,
    backwardApply(size, C, relu, acc !== undefined),
    [dy, x, ...masked, coef, ...(acc === undefined ? [] : [acc]), dx],
    bnUniforms(rows, C, applyThreads(size, C)),
  );
  gpu.release(backend, partial);
  gpu.release(backend, coef);
  return [dx, dGamma, dBeta];
};

export function batchNormWebGpuConfigs(): KernelConfig[] {
  return [
    { kernelName: BN_TRAIN, backendName: 'webgpu', kernelFunc: batchNormTrain },
    { kernelName: BN_GRAD, backendName: 'webgpu', kernelFunc: batchNormGrad },
  ];
}
