// Learning-rate schedules, keyed by the global optimizer step: the coordinator computes each step's
// factor and sends it with the step, every rank multiplies its optimizer's own learning rate by it.
// Pure, so a resumed run (which restores the step count, and the schedule's horizon from loop.json)
// continues the schedule exactly.

export const LR_SCHEDULES = ['constant', 'step', 'cosine'] as const;
export type LrScheduleKind = (typeof LR_SCHEDULES)[number];

export interface LrSchedule {
  kind: LrScheduleKind;
  /** Steps of linear warm-up before the schedule: step s ≤ W trains at s / W of the rate. */
  warmupSteps: number;
  /** `step`: the rate is multiplied by `gamma` every `stepEvery` steps after the warm-up. */
  stepEvery: number;
  gamma: number;
  /** `cosine`: steps from the end of the warm-up to the end of the decay (to 0). */
  totalSteps: number;
}

/**
 * The factor of optimizer step `step` (1 = the first step), in (0, 1]: a linear warm-up, then
 * constant, step decay (PyTorch's StepLR) or a cosine decay to 0 at `totalSteps` (PyTorch's
 * CosineAnnealingLR with eta_min 0, Hugging Face's cosine schedule with warm-up); 0 after the end.
 */
export function lrFactor(s: LrSchedule, step: number): number {
  const w = s.warmupSteps;
  if (step <= w) return step / w;
  const k = step - w - 1; // steps done since the warm-up
  switch (s.kind) {
    case 'constant':
      return 1;
    case 'step':
      return s.gamma ** Math.floor(k / Math.max(1, s.stepEvery));
    case 'cosine': {
      const span = Math.max(1, s.totalSteps - w);
      return k >= span ? 0 : 0.5 * (1 + Math.cos((Math.PI * k) / span));
    }
  }
}

/** True when every step's factor is 1 (nothing to send or record). */
export function isConstantRate(s: LrSchedule): boolean {
  return s.kind === 'constant' && s.warmupSteps === 0;
}
