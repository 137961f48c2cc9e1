// GradientLayout: the fixed order and offsets of a model's trainable variables in the one flat
// Float32Array that carries a step's gradient (the fusion buffer all-reduce works on). Every rank
// builds the same layout from the same model, so offsets agree without being exchanged.
import * as tf from '@tensorflow/tfjs-core';
import { readPacked } from '../kernels/webgpu/packed-read';
import { hostBackend, hostView } from './host-memory';

export interface LayoutEntry {
  name: string;
  shape: number[];
  offset: number;
  size: number;
}

export class GradientLayout {
  readonly entries: readonly LayoutEntry[];
  /** Total number of float32 values. */
  readonly size: number;

  constructor(readonly variables: readonly tf.Variable[]) {
    let offset = 0;
    this.entries = variables.map((v) => {
      const e = { name: v.name, shape: v.shape.slice(), offset, size: v.size };
      offset += v.size;
      return e;
    });
    this.size = offset;
  }

  /**
   * Copies `grads` (by variable name) into `out` at this layout's offsets, adding when `add`, and
   * returns the values of `extras` (scalars read along with them). One asynchronous read for all of
   * it: on a GPU backend each read is a round trip (submit, map, copy), so the gradient leaves the
   * device once per micro-batch.
   */
  async flatten(grads: tf.NamedTensorMap, out: Float32Array, add: boolean, extras: tf.Scalar[] = []): Promise<number[]> {
    if (this.flattenOnHost(grads, out, add)) return extras.map((x) => Math.fround(Number(x.dataSync()[0])));
    const packed = this.flattenOnDevice(grads, out, add, extras);
    if (packed !== null) return packed;
    const flat = tf.tidy(() => {
      const parts = this.entries.map((e) => {
        // tf.variableGrads leaves out a variable the loss does not depend on: its gradient is zero
        // (the slot must be there on every rank; the buffer's layout is fixed).
        const g = grads[e.name];
        return g === undefined ? tf.zeros([e.size]) : tf.reshape(g, [e.size]);
      });
      return tf.concat([...parts, ...extras.map((x) => tf.reshape(tf.cast(x, 'float32'), [1]))]);
    });
    let data: Float32Array;
    try {
      data = (await flat.data()) as Float32Array;
    } finally {
      flat.dispose();
    }
    if (add) {
      for (let i = 0; i < this.size; i++) out[i]! += data[i]!;
    } else {
      out.set(data.subarray(0, this.size));
    }
    return Array.from(data.subarray(this.size));
  }

  /**
   * flatten() where the gradients are in host memory (wasm, cpu: host-memory.ts): read in place, with
   * no Reshape per variable, no Concat and no copy of the whole; false (nothing written) elsewhere.
   */
  private flattenOnHost(grads: tf.NamedTensorMap, out: Float32Array, add: boolean): boolean {
    if (!hostBackend()) return false;
    // Views are taken here, with nothing allocating in between (a wasm heap that grows detaches them).
    const views = this.entries.map((e) => (grads[e.name] === undefined ? undefined : hostView(grads[e.name]!)));
    if (views.some((v) => v === null)) return false;
    this.entries.forEach((e, i) => {
      const v = views[i];
      // tf.variableGrads leaves out a variable the loss does not depend on: its gradient is zero.
      if (v === undefined || v === null) {
        if (!add) out.fill(0, e.offset, e.offset + e.size);
      } else if (add) {
        const o = out.subarray(e.offset, e.offset + e.size);
        for (let k = 0; k < o.length; k++) o[k]! += v[k]!;
      } else {
        out.set(v, e.offset);
      }
    });
    return true;
  }

  /**
   * flatten() on webgpu: every gradient and extra read in one round trip (packed-read.ts), added
   * or copied into `out` straight from the mapped staging buffer; null (nothing written) where the
   * backend is another or keeps a tensor in a texture.
   */
  private flattenOnDevice(grads: tf.NamedTensorMap, out: Float32Array, add: boolean, extras: tf.Scalar[]): Promise<number[]> | null {
    const present = this.entries.filter((e) => grads[e.name] !== undefined);
    const extraValues: number[] = [];
    const read = readPacked([...present.map((e) => grads[e.name]!), ...extras], (i, v) => {
      if (i >= present.length) {
        // As the concatenation did: each extra cast to float32.
        extraValues.push(Math.fround(v[0]!));
        return;
      }
      const o = out.subarray(present[i]!.offset, present[i]!.offset + present[i]!.size);
      if (add) for (let k = 0; k < o.length; k++) o[k]! += v[k]!;
      else o.set(v);
    });
    if (read === null) return null;
    // tf.variableGrads leaves out a variable the loss does not depend on: its gradient is zero.
    if (!add) for (const e of this.entries) if (grads[e.name] === undefined) out.fill(0, e.offset, e.offset + e.size);
    return read.then(() => extraValues);
  }

  /** Tensors viewing `flat` per variable name (the caller disposes them). */
  unflatten(flat: Float32Array): tf.NamedTensorMap {
    const map: tf.NamedTensorMap = {};
    for (const e of this.entries) map[e.name] = tf.tensor(flat.subarray(e.offset, e.offset + e.size), e.shape, 'float32');
    return map;
  }

  /** The variables' current values, flattened in layout order (for checksums and broadcast). */
  async readWeights(): Promise<Float32Array> {
    const out = new Float32Array(this.size);
    for (let i = 0; i < this.entries.length; i++) out.set((await this.variables[i]!.data()) as Float32Array, this.entries[i]!.offset);
    return out;
  }

  /** Overwrites the variables with `flat` (layout order). */
  writeWeights(flat: Float32Array): void {
    this.entries.forEach((e, i) => {
      const t = tf.tensor(flat.subarray(e.offset, e.offset + e.size), e.shape, 'float32');
      this.variables[i]!.assign(t);
      t.dispose();
    });
  }
}
