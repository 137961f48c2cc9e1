import { describe, expect, it } from 'vitest';
import { isConstantRate, lrFactor, type LrSchedule } from './lr-schedule';

const base: LrSchedule = { kind: 'constant', warmupSteps: 0, stepEvery: 10, gamma: 0.1, totalSteps: 100 };
const at = (s: LrSchedule, steps: number[]) => steps.map((k) => Number(lrFactor(s, k).toFixed(6)));

describe('learning-rate schedules', () => {
  it('warm up linearly, from 1/W of the rate at the first step to all of it at step W', () => {
    expect(at({ ...base, warmupSteps: 4 }, [1, 2, 3, 4, 5, 100])).toEqual([0.25, 0.5, 0.75, 1, 1, 1]);
    expect(isConstantRate(base)).toBe(true);
    expect(isConstantRate({ ...base, warmupSteps: 4 })).toBe(false);
  });

  it('decay by gamma every stepEvery steps after the warm-up, as PyTorch StepLR', () => {
    expect(at({ ...base, kind: 'step', stepEvery: 3, gamma: 0.5 }, [1, 3, 4, 6, 7])).toEqual([1, 1, 0.5, 0.5, 0.25]);
    expect(at({ ...base, kind: 'step', stepEvery: 3, gamma: 0.5, warmupSteps: 2 }, [2, 3, 5, 6])).toEqual([1, 1, 1, 0.5]);
  });

  it('follow a cosine from the full rate after the warm-up down to 0 at totalSteps', () => {
    const s: LrSchedule = { ...base, kind: 'cosine', warmupSteps: 10, totalSteps: 110 };
    expect(at(s, [10, 11, 61, 111, 200])).toEqual([1, 1, 0.5, 0, 0]);
    // PyTorch CosineAnnealingLR(T_max=100, eta_min=0) at epoch 25: (1 + cos(π/4)) / 2.
    expect(lrFactor(s, 36)).toBeCloseTo((1 + Math.cos(Math.PI / 4)) / 2, 12);
  });
});
