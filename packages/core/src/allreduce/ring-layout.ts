// How a ring all-reduce cuts a buffer: N segments whose sizes differ by at most 1 (the first
// length mod N are one longer), each cut into the fewest chunks of at most chunkElements, again of
// sizes differing by at most 1. An empty segment still has one (empty) chunk, so every ring step
// exchanges at least one message and a missing rank is noticed even for tiny buffers. Used by
// ring-allreduce.ts.

export interface Span {
  offset: number;
  length: number;
}

/** Segment i of a buffer of `length` elements split over n ranks. */
export function segmentSpan(length: number, n: number, i: number): Span {
  const base = Math.floor(length / n);
  const extra = length % n;
  return { offset: i * base + Math.min(i, extra), length: base + (i < extra ? 1 : 0) };
}

/** Number of chunks in a segment of `segmentLength` elements (at least 1). */
export function chunkCount(segmentLength: number, chunkElements: number): number {
  return Math.max(1, Math.ceil(segmentLength / chunkElements));
}

/**
 * Chunk c of a segment, as a span of the whole buffer: chunkCount chunks whose sizes differ by at most
 * 1 (the first length mod count are one longer), so no pipeline stage waits on one long chunk.
 */
export function chunkSpan(segment: Span, chunkElements: number, c: number): Span {
  const count = chunkCount(segment.length, chunkElements);
  const base = Math.floor(segment.length / count);
  const extra = segment.length % count;
  return { offset: segment.offset + c * base + Math.min(c, extra), length: base + (c < extra ? 1 : 0) };
}

/** The segment a rank sends at overall ring step t (0 … 2N−3); it receives segment sendSegment(t+1). */
export function sendSegment(rank: number, n: number, t: number): number {
  // Reduce-scatter (t < N−1) sends segment rank−t; all-gather step s = t−(N−1) sends rank+1−s.
  // Both are (rank − t) mod N, since rank+1−(t−N+1) ≡ rank−t (mod N).
  return (((rank - t) % n) + n) % n;
}

/** The segment a rank receives at overall ring step t: the one it sends at step t+1. */
export function recvSegment(rank: number, n: number, t: number): number {
  return sendSegment(rank, n, t + 1);
}
