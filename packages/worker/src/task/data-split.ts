// What a data module's splits are made of: examples, and splits with random access by index. Its own
// file so that the data helpers (helpers/) and the task contract that offers them import it alike.
import type * as tfc from '@tensorflow/tfjs-core';

/** One batch: the model's input and the labels its loss compares the output with. */
export interface Example {
  xs: tfc.Tensor;
  ys: tfc.Tensor;
}

/**
 * A split with random access by sample index: the coordinator plans which indices each rank computes
 * (that is what keeps N ranks equal to one, and a resume exact). `batch` returns new tensors, which
 * tfjs-ddp disposes.
 */
export interface DataSplit {
  size: number;
  batch(indices: Uint32Array): Example | Promise<Example>;
}
