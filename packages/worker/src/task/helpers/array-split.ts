// Data helpers for a data module, handed to it as ctx.helpers (so that a module outside this
// package needs no import): a split over arrays held in memory. Used by csv-data.ts and the examples.
import type * as tfc from '@tensorflow/tfjs-core';
import { DdpError } from '@tfjs-ddp/core';
import type { DataSplit } from '../data-split';

export interface ArraySplitOptions {
  /** Every sample's features, row after row (count × product(sampleShape) values). */
  x: ArrayLike<number>;
  /** The shape of one sample, e.g. [4] for four features, [28, 28, 1] for an image. */
  sampleShape: number[];
  /** Every sample's label, row after row. */
  y: ArrayLike<number>;
  /** The shape of one label: [] for a class id or a scalar target (default), [k] for k values. */
  labelShape?: number[];
  /** int32 for class ids (default when labelShape is []), float32 for targets. */
  labelDtype?: 'int32' | 'float32';
}

const product = (s: number[]) => s.reduce((a, b) => a * b, 1);

/**
 * A split with random access over in-memory arrays: `batch(indices)` gathers the rows into new
 * tensors made with `tf`. @throws DdpError E_TASK when the arrays do not hold whole samples.
 */
export function arraySplit(tf: typeof tfc, o: ArraySplitOptions): DataSplit {
  const labelShape = o.labelShape ?? [];
  const dtype = o.labelDtype ?? (labelShape.length === 0 ? 'int32' : 'float32');
  const xs = Float32Array.from(o.x);
  const per = product(o.sampleShape);
  const perLabel = product(labelShape);
  const size = per === 0 ? 0 : xs.length / per;
  if (!Number.isInteger(size) || o.y.length !== size * perLabel) {
    throw new DdpError(
      'E_TASK',
      `arraySplit: ${xs.length} values of x are not whole samples of shape [${o.sampleShape}], or y holds ${o.y.length} values for them (labels of shape [${labelShape}])`,
      'give x as count × sample-size values and y as count × label-size values',
    );
  }
  const ys = dtype === 'int32' ? Int32Array.from(o.y) : Float32Array.from(o.y);
  return {
    size,
    batch(indices) {
      const n = indices.length;
      const bx = new Float32Array(n * per);
      const by = dtype === 'int32' ? new Int32Array(n * perLabel) : new Float32Array(n * perLabel);
      for (let k = 0; k < n; k++) {
        const i = indices[k]!;
        if (i >= size)
          throw new DdpError(
            'E_TASK',
            `arraySplit: sample ${i} asked of a split of ${size}`,
            'this is a bug in tfjs-ddp: report it',
          );
        bx.set(xs.subarray(i * per, (i + 1) * per), k * per);
        by.set(ys.subarray(i * perLabel, (i + 1) * perLabel), k * perLabel);
      }
      return {
        xs: tf.tensor(bx, [n, ...o.sampleShape], 'float32'),
        ys: tf.tensor(by, [n, ...labelShape], dtype) as tfc.Tensor,
      };
    },
  };
}
