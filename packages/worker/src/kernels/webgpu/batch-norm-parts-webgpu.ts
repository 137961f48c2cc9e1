// The parts BatchNorm (+ ReLU) training kernels, BN_TRAIN_PARTS and BN_GRAD_PARTS of
// ../batch-norm-parts.ts, on webgpu: the input is a dense block's channel parts x0…x(n−1)
// (model/fuse-concat-parts.ts), read where they are, so the block makes no Concat forward and no
// SplitV backward. Three dispatches each way as BN_TRAIN and BN_GRAD (batch-norm-webgpu.ts) where the
// device binds all the parts at once; else the sums and the apply take the parts in consecutive
// groups that fit (batch-norm-parts-programs.ts), a dispatch per group. The same arithmetic per
// channel as the plain kernels on the concatenated tensor. Registered by fast-kernels.ts.
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { BN_GRAD_PARTS, BN_TRAIN_PARTS } from '../batch-norm-parts';
import { kernelParts, type BatchNormTrainAttrs } from '../batch-norm-relu';
import { backwardFinalize, bnUniforms, chunking, forwardFinalize } from './batch-norm-programs';
import {
  backwardPartsApply,
  backwardPartsSums,
  forwardPartsApply,
  forwardPartsSums,
  partsUniforms,
  type PartsGroup,
} from './batch-norm-parts-programs';
import { forwardMovingStatistics } from './moving-statistics-program';
import { rawRecorder as gpu } from './raw-dispatch';

/**
 * The parts in consecutive groups, each as large as `limit` storage buffers allow: `cost` gives a
 * group's bindings from its part indices. One part always fits (every cost here is ≤ 8 for one part).
 */
export function partGroups(
  parts: TensorInfo[],
  limit: number,
  cost: (indices: number[]) => number,
): { group: PartsGroup; indices: number[] }[] {
  const out: { group: PartsGroup; indices: number[] }[] = [];
  let offset = 0;
  let current: number[] = [];
  const close = () => {
    const channels = current.map((p) => parts[p]!.shape[parts[p]!.shape.length - 1]!);
    out.push({ group: { offset, channels }, indices: current });
    offset += channels.reduce((s, c) => s + c, 0);
    current = [];
  };
  parts.forEach((_, p) => {
    if (current.length > 0 && cost([...current, p]) > limit) close();
    current.push(p);
  });
  close();
  return out;
}

/** gamma, beta, x0…x(n−1), optionally movingMean, movingVariance → y, mean, variance, 1/σ (, new moving). */
const train: KernelFunc = ({ inputs, backend, attrs }) => {
  const ins = inputs as Record<string, TensorInfo | undefined>;
  const { epsilon, relu, movingRule, momentum } = attrs as unknown as BatchNormTrainAttrs;
  const { parts, C, lead, rows } = kernelParts(ins);
  const olds = [ins['movingMean'], ins['movingVariance']];
  const rule = olds.every((t) => t !== undefined) && movingRule !== undefined ? movingRule : null;
  const limit = gpu.storageBuffers(backend);
  const partial = gpu.output(backend, [chunking(rows).chunks * 2 * C + C]);
  const coef = gpu.output(backend, [3, C]);
  const [y, mean, variance, invStd] = [[...lead, C], [C], [C], [C]].map((s) => gpu.output(backend, s)) as [
    TensorInfo,
    TensorInfo,
    TensorInfo,
    TensorInfo,
  ];
  for (const { group, indices } of partGroups(parts, limit, (ps) => ps.length + 1)) {
    const { program, threads } = forwardPartsSums(rows, group);
    gpu.record(
      backend,
      program,
      [...indices.map((p) => parts[p]!), partial],
      partsUniforms(rows, C, group, threads),
    );
  }
  const ms = forwardMovingStatistics(
    backend,
    { rule, momentum, rows, C, finalizeBuffers: 11 },
    rule === null ? [] : (olds as TensorInfo[]),
  );
  gpu.record(
    backend,
    forwardFinalize(C, ms.finalizeRule, true),
    [partial, ins['gamma']!, ins['beta']!, mean, variance, invStd, coef, ...ms.finalizeBindings],
    bnUniforms(rows, C, C, epsilon, ms.moving),
  );
  ms.apart(mean, variance);
  for (const { group, indices } of partGroups(parts, limit, (ps) => ps.length + 2)) {
    const { program, threads } = forwardPartsApply(rows, C, group, relu);
    gpu.record(
      backend,
      program,
      [...indices.map((p) => parts[p]!), coef, y],
      partsUniforms(rows, C, group, threads),
    );
  }
  gpu.release(backend, partial);
  gpu.release(backend, coef);
  return [y, mean, variance, invStd, ...ms.moved];
};

/** dy, gamma, beta, mean, invStd, x0…, acc0… (each optional), y (under a ReLU) → dx0…, dγ, dβ. */
const grad: KernelFunc = ({ inputs, backend, attrs }) => {
  const ins = inputs as Record<string, TensorInfo | undefined>;
  const { relu } = attrs as unknown as Pick<BatchNormTrainAttrs, 'relu'>;
  const { parts, C, rows } = kernelParts(ins);
  const [dy, y, mean] = [ins['dy']!, ins['y'], ins['mean']!];
  if (relu && y === undefined)
    throw new Error(`${BN_GRAD_PARTS} on webgpu: under a ReLU the forward output y is an input (its mask)`);
  const masked = relu ? [y!] : [];
  const accs = parts.map((_, p) => ins[`acc${p}`]);
  const limit = gpu.storageBuffers(backend);
  const partial = gpu.output(backend, [chunking(rows).chunks, 2, C]);
  const coef = gpu.output(backend, [4, C]);
  const dxs = parts.map((p) => gpu.output(backend, p.shape.slice()));
  const [dGamma, dBeta] = [gpu.output(backend, [C]), gpu.output(backend, [C])];
  const pick = (indices: number[], of: (TensorInfo | undefined)[]) =>
    indices.flatMap((p) => (of[p] === undefined ? [] : [of[p]!]));
  for (const { group, indices } of partGroups(parts, limit, (ps) => masked.length + 3 + ps.length)) {
    const { program, threads } = backwardPartsSums(rows, group, relu);
    const buffers = [dy, ...masked, mean, ...pick(indices, parts), partial];
    gpu.record(backend, program, buffers, partsUniforms(rows, C, group, threads));
  }
  gpu.record(
    backend,
    backwardFinalize(C),
    [partial, mean, ins['invStd']!, ins['gamma']!, dGamma, dBeta, coef],
    bnUniforms(rows, C, C),
  );
  const applyCost = (ps: number[]) => masked.length + 2 + 2 * ps.length + pick(ps, accs).length;
  for (const { group, indices } of partGroups(parts, limit, applyCost)) {
    const { program, threads } = backwardPartsApply(
      rows,
      C,
      group,
      relu,
      indices.map((p) => accs[p] !== undefined),
    );
    const buffers = [
      dy,
      ...masked,
      coef,
      ...pick(indices, parts),
      ...pick(indices, accs),
      ...pick(indices, dxs),
    ];
    gpu.record(backend, program, buffers, partsUniforms(rows, C, group, threads));
  }
  gpu.release(backend, partial);
  gpu.release(backend, coef);
  return [...dxs, dGamma, dBeta];
};

export function batchNormPartsWebGpuConfigs(): KernelConfig[] {
  return [
    { kernelName: BN_TRAIN_PARTS, backendName: 'webgpu', kernelFunc: train },
    { kernelName: BN_GRAD_PARTS, backendName: 'webgpu', kernelFunc: grad },
  ];
}
