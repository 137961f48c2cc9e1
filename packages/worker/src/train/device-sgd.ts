// Plain SGD (tf.train.sgd, the seed's optimizer) on the webgpu backend: one dispatch per variable
// (kernels/webgpu/sgd-step-program.ts) instead of tfjs's two (Multiply, Add). The gradient goes up
// as before (one upload per variable); the new values are a new tensor the variable takes. Other
// optimizers and backends: applyOnDevice() says no and the caller takes the tfjs path.
import * as tf from '@tensorflow/tfjs-core';
import { SgdStepProgram } from '../kernels/webgpu/sgd-step-program';
import type { WebGpuBackendLike } from '../kernels/webgpu/webgpu-backend-like';
import type { GradientLayout } from './gradient-layout';
import { isPlainSgd } from './host-optimizers';

/** Applies `mean` (the mean gradient, in `layout`'s order) with `opt` on webgpu; false where it cannot. */
export function applyOnDevice(opt: tf.Optimizer, layout: GradientLayout, mean: Float32Array): boolean {
  if (tf.getBackend() !== 'webgpu' || !isPlainSgd(opt)) return false;
  const vars = layout.variables;
  if (!vars.every((v) => v.dtype === 'float32')) return false;
  const backend = tf.backend() as unknown as WebGpuBackendLike;
  // −lr as tfjs' SGD keeps it (a float32 scalar), read from the number: no read back from the GPU.
  const c = Math.fround(-opt.learningRate);
  layout.entries.forEach((e, i) => {
    const v = vars[i]!;
    tf.tidy(() => {
      const g = tf.tensor(mean.subarray(e.offset, e.offset + e.size), [e.size], 'float32');
      const info = backend.runWebGPUProgram(new SgdStepProgram(e.size), [tf.reshape(v, [e.size]), g], 'float32', [
        { type: 'float32', data: [c] },
        { type: 'int32', data: [e.size] },
      ]);
      v.assign(tf.reshape(tf.engine().makeTensorFromTensorInfo(info), v.shape));
    });
  });
  opt.incrementIterations();
  return true;
}
