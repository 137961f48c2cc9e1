import { describe, expect, it } from 'vitest';
import { chunkCount, chunkSpan, recvSegment, segmentSpan, sendSegment } from './ring-layout';

describe('ring layout', () => {
  it.each([
    [0, 3],
    [2, 5],
    [10, 3],
    [758_226, 8],
  ])(
    'cuts %i elements over %i ranks into contiguous segments whose sizes differ by at most 1',
    (length, n) => {
      const segs = Array.from({ length: n }, (_, i) => segmentSpan(length, n, i));
      expect(segs[0]!.offset).toBe(0);
      for (let i = 1; i < n; i++) expect(segs[i]!.offset).toBe(segs[i - 1]!.offset + segs[i - 1]!.length);
      expect(segs.reduce((s, x) => s + x.length, 0)).toBe(length);
      const sizes = segs.map((s) => s.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    },
  );

  it('cuts a segment into the fewest chunks of at most chunkElements, sizes differing by at most 1, with one empty chunk for an empty segment', () => {
    const seg = { offset: 100, length: 10 };
    expect(chunkCount(10, 4)).toBe(3);
    expect([0, 1, 2].map((c) => chunkSpan(seg, 4, c))).toEqual([
      { offset: 100, length: 4 },
      { offset: 104, length: 3 },
      { offset: 107, length: 3 },
    ]);
    for (const [length, chunk] of [
      [189_556, 131_072],
      [379_113, 131_072],
      [4_194_304, 131_072],
      [7, 7],
      [8, 7],
    ] as const) {
      const k = chunkCount(length, chunk);
      const spans = Array.from({ length: k }, (_, c) => chunkSpan({ offset: 3, length }, chunk, c));
      expect(spans[0]!.offset).toBe(3);
      for (let c = 1; c < k; c++) expect(spans[c]!.offset).toBe(spans[c - 1]!.offset + spans[c - 1]!.length);
      expect(spans.reduce((s, x) => s + x.length, 0)).toBe(length);
      const sizes = spans.map((s) => s.length);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(chunk);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
    expect(chunkCount(0, 4)).toBe(1);
    expect(chunkSpan({ offset: 5, length: 0 }, 4, 0)).toEqual({ offset: 5, length: 0 });
  });

  it('has each rank receive, at every ring step, the segment its left neighbour sends', () => {
    for (const n of [2, 3, 5, 8]) {
      for (let r = 0; r < n; r++) {
        const left = (r + n - 1) % n;
        for (let t = 0; t < 2 * (n - 1); t++) expect(recvSegment(r, n, t)).toBe(sendSegment(left, n, t));
      }
    }
  });

  it('leaves rank r owning the fully reduced segment r+1 after reduce-scatter', () => {
    // The last reduce-scatter receive (t = N−2) is the segment all-gather starts by sending.
    for (const n of [2, 3, 7]) for (let r = 0; r < n; r++) expect(recvSegment(r, n, n - 2)).toBe((r + 1) % n);
  });
});
