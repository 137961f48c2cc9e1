// Turns a gathered batch of uint8 Fashion-MNIST images into the model's input on the compute
// backend: bilinear resize (half-pixel centres, as torchvision's Resize) and scaling to [0, 1]
// (as ToTensor). Called by the trainer and the evaluator for every micro-batch.
import * as tf from '@tensorflow/tfjs-core';

export interface Batch {
  /** [n, size, size, 1] float32 in [0, 1]. */
  x: tf.Tensor4D;
  /** [n] int32 class ids. */
  y: tf.Tensor1D;
}

/**
 * @param images n·rows·cols bytes, row-major images
 * @param labels n class ids
 * @param size the square input size of the model (28 = no resize)
 */
export function prepareBatch(images: Uint8Array, labels: Uint8Array, rows: number, cols: number, size: number): Batch {
  const n = labels.length;
  if (images.length !== n * rows * cols) {
    throw new Error(`prepareBatch: ${images.length} image bytes for ${n} labels of ${rows}×${cols}`);
  }
  return tf.tidy(() => {
    const raw = tf.tensor4d(Float32Array.from(images), [n, rows, cols, 1]);
    const resized = size === rows && size === cols ? raw : tf.image.resizeBilinear(raw, [size, size], false, true);
    return { x: tf.div(resized, 255) as tf.Tensor4D, y: tf.tensor1d(Int32Array.from(labels), 'int32') };
  });
}
