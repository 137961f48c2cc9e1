// buffer-plan.ts: requests whose lifetimes overlap never share a buffer, the largest buffer that is
// free serves a smaller request, requests held past the micro-batch are left out, and buffers of
// different usages are never shared.
import { describe, expect, it } from 'vitest';
import { planBuffers, type RecordedRequest } from './buffer-plan';

const S = 0x80 | 0x4 | 0x8;
const req = (size: number, start: number, end: number | null, usage = S): RecordedRequest => ({
  size,
  usage,
  start,
  end,
});

/** Checks that no two requests that share a planned buffer are alive at once, and that each fits. */
function expectValid(requests: RecordedRequest[]): ReturnType<typeof planBuffers> {
  const plan = planBuffers(requests);
  requests.forEach((r, i) => {
    const slot = plan.slotOf[i]!;
    if (r.end === null) return expect(slot).toBe(-1);
    expect(plan.slots[slot]!.size).toBeGreaterThanOrEqual(r.size);
    expect(plan.slots[slot]!.usage).toBe(r.usage);
    requests.forEach((q, j) => {
      if (j === i || plan.slotOf[j] !== slot) return;
      expect(q.end! <= r.start || r.end! <= q.start, `requests ${i} and ${j} overlap in buffer ${slot}`).toBe(
        true,
      );
    });
  });
  return plan;
}

describe('planBuffers', () => {
  it('gives a chain of tensors, each freed after the next is made, two buffers', () => {
    // a0 made, a1 made from it, a0 freed, a2 made, a1 freed, ...: two alive at once.
    const requests = [req(4096, 0, 2), req(4000, 1, 4), req(3000, 3, 6), req(2000, 5, 7)];
    const plan = expectValid(requests);
    expect(plan.slots).toHaveLength(2);
    expect(plan.slots.map((s) => s.size).sort((a, b) => a - b)).toEqual([4000, 4096]);
    expect(Array.from(plan.sizes)).toEqual([4096, 4000, 3000, 2000]);
  });

  it('gives requests alive at once buffers of their own', () => {
    const plan = expectValid([req(100, 0, 10), req(100, 1, 9), req(100, 2, 8)]);
    expect(plan.slots).toHaveLength(3);
  });

  it('serves a request from the smallest free buffer that fits', () => {
    // 1000 and 500 are freed before 400 comes: 400 takes the 500.
    const plan = expectValid([req(1000, 0, 2), req(500, 1, 3), req(400, 4, 5)]);
    expect(plan.slots[plan.slotOf[2]!]!.size).toBe(500);
  });

  it('leaves out what is still held at the end, and does not mix usages', () => {
    const plan = expectValid([req(256, 0, null), req(256, 1, 2), req(256, 3, 4, 0x40 | 0x8)]);
    expect(plan.slotOf[0]).toBe(-1);
    expect(plan.slotOf[1]).not.toBe(plan.slotOf[2]);
  });

  it('never overlaps on a random trace, and its total is at least the peak of live bytes', () => {
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const requests: RecordedRequest[] = [];
    const open: number[] = [];
    let t = 0;
    for (let i = 0; i < 300; i++) {
      if (open.length > 0 && rand() < 0.45)
        requests[open.splice(Math.floor(rand() * open.length), 1)[0]!]!.end = t++;
      open.push(requests.length);
      requests.push(req(256 * (1 + Math.floor(rand() * 64)), t++, null));
    }
    for (const i of open.slice(0, -5)) requests[i]!.end = t++;
    const plan = expectValid(requests);
    let live = 0;
    let peak = 0;
    const events = requests.flatMap((r) =>
      r.end === null
        ? []
        : ([
            [r.start, r.size],
            [r.end, -r.size],
          ] as const),
    );
    for (const [, d] of [...events].sort((a, b) => a[0] - b[0])) peak = Math.max(peak, (live += d));
    expect(plan.slots.reduce((s, x) => s + x.size, 0)).toBeGreaterThanOrEqual(peak);
  });
});
