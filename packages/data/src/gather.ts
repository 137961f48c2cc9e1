// Copies the samples a rank was told to use out of a split: the bridge between the shard plan
// (indices) and the worker's input tensors (contiguous uint8 pixels and labels).

import { DdpError } from '@tfjs-ddp/core';
import type { FashionMnistSplit } from './fashion-mnist';

/**
 * Pixels of the given samples, back to back: indices.length × (rows·cols) bytes.
 * @throws DdpError E_INTERNAL when an index is outside [0, split.count)
 */
export function gatherImages(split: FashionMnistSplit, indices: ArrayLike<number>): Uint8Array {
  const pixels = split.count === 0 ? 0 : split.images.length / split.count;
  const out = new Uint8Array(indices.length * pixels);
  for (let k = 0; k < indices.length; k++) {
    const i = checkIndex(split, indices[k]!);
    out.set(split.images.subarray(i * pixels, (i + 1) * pixels), k * pixels);
  }
  return out;
}

/**
 * Labels of the given samples, in the same order.
 * @throws DdpError E_INTERNAL when an index is outside [0, split.count)
 */
export function gatherLabels(split: FashionMnistSplit, indices: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(indices.length);
  for (let k = 0; k < indices.length; k++) out[k] = split.labels[checkIndex(split, indices[k]!)]!;
  return out;
}

function checkIndex(split: FashionMnistSplit, i: number): number {
  if (!Number.isInteger(i) || i < 0 || i >= split.count) {
    throw new DdpError(
      'E_INTERNAL',
      `sample index ${i} is outside the split (${split.count} samples)`,
      'the coordinator and this worker may have loaded different datasets; pass the same --data-dir to both',
    );
  }
  return i;
}
