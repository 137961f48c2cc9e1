// The buffer plan of a micro-batch on webgpu (used by webgpu-buffer-pool.ts): which of the
// micro-batch's storage buffers can share one GPU buffer, from the sizes and lifetimes that its first
// run recorded. A training step's micro-batches repeat the same requests in the same order, so the
// plan holds for the next ones. Greedy by size (the approach of TensorFlow Lite's "greedy by size"
// memory planner, on whole buffers instead of offsets in one arena): the largest request first, each
// given the smallest planned buffer that is free over its whole lifetime, or a new buffer of its
// own size.

/** A storage buffer request of the recorded micro-batch: acquired at event `start`, released at `end`. */
export interface RecordedRequest {
  size: number;
  usage: number;
  start: number;
  /** null: still held when the micro-batch ended (a result, or a tensor kept across steps); not planned. */
  end: number | null;
}

export interface BufferPlan {
  /** Per request, the index of its planned buffer, or -1 where it is not planned. */
  slotOf: Int32Array;
  /** Per planned buffer: its size and usage. */
  slots: { size: number; usage: number }[];
  /** The request sizes in order, to tell whether a later micro-batch still follows the plan. */
  sizes: Float64Array;
}

/**
 * No bound on how much larger a planned buffer may be than a request it serves: a larger buffer
 * costs nothing but memory, and the plan's total was least without one (the seed's step at 96×96,
 * batch 16, on lavapipe: 119 MiB against 125 with a bound of 2).
 */
export function planBuffers(requests: readonly RecordedRequest[]): BufferPlan {
  const slotOf = new Int32Array(requests.length).fill(-1);
  const slots: { size: number; usage: number; busy: [number, number][] }[] = [];
  const order = requests
    .map((r, i) => i)
    .filter((i) => requests[i]!.end !== null)
    .sort((a, b) => requests[b]!.size - requests[a]!.size || a - b);
  for (const i of order) {
    const r = requests[i]!;
    const [a, b] = [r.start, r.end!];
    let best = -1;
    slots.forEach((s, j) => {
      if (s.usage !== r.usage || s.size < r.size) return;
      if (best !== -1 && slots[best]!.size <= s.size) return;
      if (s.busy.every(([x, y]) => b <= x || y <= a)) best = j;
    });
    if (best === -1) {
      best = slots.length;
      slots.push({ size: r.size, usage: r.usage, busy: [] });
    }
    slots[best]!.busy.push([a, b]);
    slotOf[i] = best;
  }
  return {
    slotOf,
    slots: slots.map(({ size, usage }) => ({ size, usage })),
    sizes: Float64Array.from(requests, (r) => r.size),
  };
}
