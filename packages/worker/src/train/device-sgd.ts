// Plain SGD (tf.train.sgd, the seed's) and momentum SGD (tf.train.momentum, with or without
// Nesterov) on the webgpu backend: several variables per dispatch (kernels/webgpu/sgd-multi-program.ts)
// instead of tfjs's two (SGD) or four to five (momentum) dispatches per variable, with one gradient
// upload per group of variables instead of one per variable. The new values and accumulations are
// new tensors the variables and the optimizer's own slots take, never written in place. Other
// optimizers and backends: applyOnDevice() says no and the caller takes the tfjs path.
import * as tf from '@tensorflow/tfjs-core';
import { rawRecorder as gpu } from '../kernels/webgpu/raw-dispatch';
import { sgdGroupSize, sgdMultiProgram } from '../kernels/webgpu/sgd-multi-program';
import type { GradientLayout, LayoutEntry } from './gradient-layout';
import { sgdOrMomentum } from './host-optimizers';

/** Applies `mean` (the mean gradient, in `layout`'s order) with `opt` on webgpu; false where it cannot. */
export function applyOnDevice(opt: tf.Optimizer, layout: GradientLayout, mean: Float32Array): boolean {
  const o = sgdOrMomentum(opt);
  if (tf.getBackend() !== 'webgpu' || o === null) return false;
  const vars = layout.variables;
  if (!vars.every((v) => v.dtype === 'float32')) return false;
  const backend = tf.backend();
  // −lr and the momentum as tfjs keeps them (float32 scalars), from the numbers: no read back from the GPU.
  const c = Math.fround(-o.learningRate);
  const m = Math.fround(o.momentum);
  const withSlots = o.rule !== 'sgd';
  // The slots, made as the stock update makes them on its first step (zeros, not trainable).
  if (withSlots)
    vars.forEach(
      (v, i) =>
        (o.accumulations[i] ??= {
          originalName: `${v.name}/momentum`,
          variable: tf.tidy(() => tf.zerosLike(v).variable(false)),
        }),
    );
  const k = sgdGroupSize(gpu.storageBuffers(backend), o.rule);
  // Empty variables have nothing to update (and a zero-size buffer cannot be bound).
  const live = layout.entries.map((e, i) => ({ e, i, v: vars[i]! })).filter(({ e }) => e.size > 0);
  for (let start = 0; start < live.length; start += k) {
    const group = live.slice(start, start + k);
    const entries: LayoutEntry[] = group.map(({ e }) => e);
    const first = entries[0]!;
    const last = entries[entries.length - 1]!;
    tf.tidy(() => {
      // The layout is contiguous: the group's gradient is one slice of the mean.
      const g = tf.tensor(
        mean.subarray(first.offset, last.offset + last.size),
        [last.offset + last.size - first.offset],
        'float32',
      );
      const { program, uniforms } = sgdMultiProgram(
        entries.map((e) => e.size),
        c,
        o.rule,
        m,
      );
      const flat = (t: tf.Tensor, e: LayoutEntry) => tf.reshape(t, [e.size]);
      const olds = [
        ...group.map(({ v, e }) => flat(v, e)),
        ...(withSlots ? group.map(({ i, e }) => flat(o.accumulations[i]!.variable, e)) : []),
      ];
      const news = olds.map((t) => gpu.output(backend, [t.size]));
      gpu.record(backend, program, [g, ...olds, ...news], uniforms);
      const take = (target: tf.Variable, info: (typeof news)[number]) =>
        target.assign(tf.reshape(tf.engine().makeTensorFromTensorInfo(info), target.shape));
      group.forEach(({ v, i }, j) => {
        take(v, news[j]!);
        if (withSlots) take(o.accumulations[i]!.variable, news[group.length + j]!);
      });
    });
  }
  o.incrementIterations();
  return true;
}
