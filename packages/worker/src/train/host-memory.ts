// The memory of a float32 tensor as a Float32Array, where a backend keeps it on the host: the wasm
// backend's heap (a view, valid until the heap grows: use it before anything allocates) or the cpu
// backend's own array. Lets the step's gradient and the weights be read without dispatching
// kernels (gradient-layout.ts, host-optimizers.ts). Null on a device backend (webgpu, tensorflow), where
// the tfjs path stays.
import * as tf from '@tensorflow/tfjs-core';

interface HostBackend {
  /** wasm */
  wasm?: { HEAPU8: Uint8Array };
  typedArrayFromHeap?(t: { shape: number[]; dtype: 'float32'; dataId: object }): Float32Array;
  /** cpu */
  data?: { get(dataId: object): { values?: unknown } | undefined };
}

/** Whether the current backend keeps tensors in host memory this file can view. */
export function hostBackend(): boolean {
  const name = tf.getBackend();
  return name === 'wasm' || name === 'cpu';
}

/** `t`'s memory, viewed (not copied); null where the backend keeps it elsewhere or it is not float32. */
export function hostView(t: tf.Tensor): Float32Array | null {
  if (t.dtype !== 'float32' || t.isDisposed) return null;
  const name = tf.getBackend();
  const b = tf.backend() as unknown as HostBackend;
  if (name === 'wasm' && typeof b.typedArrayFromHeap === 'function') return b.typedArrayFromHeap({ shape: t.shape, dtype: 'float32', dataId: t.dataId });
  if (name === 'cpu') {
    const values = b.data?.get(t.dataId)?.values;
    return values instanceof Float32Array && values.length === t.size ? values : null;
  }
  return null;
}
