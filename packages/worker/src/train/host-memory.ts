// The memory of a float32 tensor as a Float32Array, where a backend keeps it on the host: the wasm
// backend's heap (a view, valid until the heap grows: use it before anything allocates) or the cpu
// backend's own array (kernels/heap-access.ts, floatView). Lets the step's gradient and the weights
// be read without dispatching kernels (gradient-layout.ts, host-optimizers.ts). Null on a device
// backend (webgpu, tensorflow), where the tfjs path stays.
import * as tf from '@tensorflow/tfjs-core';
import { floatView } from '../kernels/heap-access';

/** Whether the current backend keeps tensors in host memory this file can view. */
export function hostBackend(): boolean {
  const name = tf.getBackend();
  return name === 'wasm' || name === 'cpu';
}

/** `t`'s memory, viewed (not copied); null where the backend keeps it elsewhere or it is not float32. */
export function hostView(t: tf.Tensor): Float32Array | null {
  if (t.dtype !== 'float32' || t.isDisposed) return null;
  const view = floatView(tf.getBackend(), tf.backend(), t);
  return view !== null && view.length === t.size ? view : null;
}
