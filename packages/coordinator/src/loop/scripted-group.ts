// A WorkerGroup that answers from a script, for the loop's specs (run-step, train-loop): each step()
// returns the next scripted StepOutcome (an applied step when the script has run out) and keeps the
// plans it was given; between() returns the next scripted change. Not used outside the specs.
import type {
  EvalOutcome,
  MembershipChange,
  RestartRecord,
  StepOutcome,
  StepPlan,
  TrainingState,
  WorkerDescription,
  WorkerGroup,
} from '@tfjs-ddp/core';
import type { LoopLogger } from './train-events';

/** A rank's description with `microBatch` as its capacity (and 1000 training samples unless said). */
export function worker(rank: number, microBatch: number, trainCount = 1000): WorkerDescription {
  return {
    rank,
    pid: 100 + rank,
    host: 'h',
    backend: 'cpu',
    device: 'cpu',
    adapter: null,
    params: 10,
    weightsHash: 'w',
    microBatch,
    memoryFit: null,
    trainCount,
    testCount: 100,
  };
}

/** Every rank applied the step: loss 0.5 and accuracy 0.75 per sample. */
export function applied(count: number): StepOutcome {
  return {
    aborted: false,
    skipped: false,
    oom: [],
    restarts: [],
    lossSum: count / 2,
    correct: (count * 3) / 4,
    count,
    timings: [],
  };
}

/** Every rank aborted the step (fill in why: oom, restarts or membership). */
export function aborted(why: Partial<StepOutcome>): StepOutcome {
  return {
    aborted: true,
    skipped: false,
    oom: [],
    restarts: [],
    lossSum: 0,
    correct: 0,
    count: 0,
    timings: [],
    ...why,
  };
}

/** A worker process replaced by a new one. */
export function restart(rank: number): RestartRecord {
  return {
    rank,
    pid: 100 + rank,
    host: 'h',
    step: 1,
    cause: 'was killed by SIGKILL',
    lastLines: ['last'],
    newPid: 200 + rank,
  };
}

export class ScriptedGroup implements WorkerGroup {
  /** Every plan step() was given, in order. */
  readonly plans: StepPlan[] = [];
  /** What between() answers next (nothing changed once it has run out). */
  readonly changes: { restarts: RestartRecord[]; membership: MembershipChange | null }[] = [];

  constructor(
    public descriptions: WorkerDescription[],
    /** What step() answers next, in order. */
    readonly script: (StepOutcome | ((plan: StepPlan) => StepOutcome))[] = [],
  ) {}

  get worldSize(): number {
    return this.descriptions.length;
  }

  describe(): WorkerDescription[] {
    return this.descriptions;
  }

  async between(): Promise<{ restarts: RestartRecord[]; membership: MembershipChange | null }> {
    return this.changes.shift() ?? { restarts: [], membership: null };
  }

  async step(plan: StepPlan): Promise<StepOutcome> {
    this.plans.push(plan);
    const next = this.script.shift();
    if (next === undefined) return applied(plan.globalCount);
    return typeof next === 'function' ? next(plan) : next;
  }

  async evaluate(): Promise<EvalOutcome> {
    return { lossSum: 50, correct: 80, count: 100 };
  }

  async checksums(): Promise<string[]> {
    return this.descriptions.map(() => 'c0ffee');
  }

  async save(): Promise<string[]> {
    return ['model.json', 'weights.bin'];
  }

  async snapshot(): Promise<{ files: Record<string, Uint8Array>; state: TrainingState }> {
    const state = {
      weights: new Float32Array(2),
      batchNorm: new Float32Array(0),
      optimizer: [],
      checksum: 'c0ffee',
    };
    return { files: { 'model.json': new TextEncoder().encode('{}') }, state };
  }

  async restore(): Promise<void> {}

  async close(): Promise<void> {}
}

/** A logger that keeps its lines: [level, message, fields]. */
export function keptLog(): LoopLogger & { lines: [string, string, object][] } {
  const lines: [string, string, object][] = [];
  return {
    lines,
    info: (obj, msg) => lines.push(['info', msg, obj]),
    warn: (obj, msg) => lines.push(['warn', msg, obj]),
  };
}
