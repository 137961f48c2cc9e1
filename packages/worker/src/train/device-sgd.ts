// Plain SGD (tf.train.sgd, the seed's optimizer) on the webgpu backend: several variables per
// dispatch (kernels/webgpu/sgd-multi-program.ts) instead of tfjs's two dispatches per variable
// (Multiply, Add), with one gradient upload per group of variables instead of one per variable. The
// new values are new tensors the variables take, never written in place. Other optimizers and
// backends: applyOnDevice() says no and the caller takes the tfjs path.
import * as tf from '@tensorflow/tfjs-core';
import { rawRecorder as gpu } from '../kernels/webgpu/raw-dispatch';
import { sgdGroupSize, sgdMultiProgram } from '../kernels/webgpu/sgd-multi-program';
import type { GradientLayout, LayoutEntry } from './gradient-layout';
import { isPlainSgd } from './host-optimizers';

/** Applies `mean` (the mean gradient, in `layout`'s order) with `opt` on webgpu; false where it cannot. */
export function applyOnDevice(opt: tf.Optimizer, layout: GradientLayout, mean: Float32Array): boolean {
  if (tf.getBackend() !== 'webgpu' || !isPlainSgd(opt)) return false;
  const vars = layout.variables;
  if (!vars.every((v) => v.dtype === 'float32')) return false;
  const backend = tf.backend();
  // −lr as tfjs' SGD keeps it (a float32 scalar), read from the number: no read back from the GPU.
  const c = Math.fround(-opt.learningRate);
  const k = sgdGroupSize(gpu.storageBuffers(backend));
  // Empty variables have nothing to update (and a zero-size buffer cannot be bound).
  const live = layout.entries.map((e, i) => ({ e, v: vars[i]! })).filter(({ e }) => e.size > 0);
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
      );
      const outs = entries.map((e) => gpu.output(backend, [e.size]));
      gpu.record(
        backend,
        program,
        [g, ...group.map(({ v, e }) => tf.reshape(v, [e.size])), ...outs],
        uniforms,
      );
      group.forEach(({ v }, j) =>
        v.assign(tf.reshape(tf.engine().makeTensorFromTensorInfo(outs[j]!), v.shape)),
      );
    });
  }
  opt.incrementIterations();
  return true;
}
