import { describe, expect, it } from 'vitest';
import { addSums, meansByName } from './named-metrics';

describe("a task's own metrics", () => {
  it('are reported as means by name, from sums', () => {
    expect(meansByName(['mae', 'top3'], [3, 6], 12)).toEqual({ mae: 0.25, top3: 0.5 });
  });

  it('are absent when the task has none, or no sample was counted', () => {
    expect(meansByName([], [], 12)).toBeUndefined();
    expect(meansByName(['mae'], undefined, 12)).toBeUndefined();
    expect(meansByName(['mae'], [1], 0)).toBeUndefined();
  });

  it('add up slot by slot, ignoring what an older worker did not send', () => {
    const sums = [1, 2];
    addSums(sums, [0.5, 0.25]);
    addSums(sums, undefined);
    addSums(sums, [1, 1, 9]);
    expect(sums).toEqual([2.5, 3.25]);
  });
});
