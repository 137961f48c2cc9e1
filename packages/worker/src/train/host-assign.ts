// An optimizer slot as tfjs makes it, and a variable's update as a new tensor: what the host
// optimizer updates (host-optimizers.ts, host-optimizers-more.ts) and the device ones share.
import * as tf from '@tensorflow/tfjs-core';

export type Slot = { originalName: string; variable: tf.Variable } | undefined;

/** An optimizer's slot for `v`, as tfjs makes it on its first step: `value` everywhere (0 by default), not trainable. */
export function zeroSlot(
  v: tf.Variable,
  suffix: string,
  value = 0,
): { originalName: string; variable: tf.Variable } {
  const init = () => (value === 0 ? tf.zerosLike(v) : tf.fill(v.shape, value));
  return { originalName: `${v.name}/${suffix}`, variable: tf.tidy(() => init().variable(false)) };
}

/** `v` takes `values` as a new tensor (new memory: the wasm backend caches XNNPACK operators by tensor, host-optimizers.ts). */
export function assignNew(v: tf.Variable, values: Float32Array): void {
  const t = tf.tensor(values, v.shape, 'float32');
  v.assign(t);
  t.dispose();
}
