// bench:batch-search — how good and how cheap is the memory-fit search? For each input size: the
// product's search (trials used, chosen micro-batch, time), the true largest micro-batch that runs
// (bisection, every probe a real trial step in a child process), and Lightning's two strategies
// (power-of-two scaling; doubling then binary search) run through the same child-process probe and
// the same usable budget. Prints one JSON line per (resize, strategy). Usage:
//   npm run bench:batch-search -- [--backend wasm] [--resize 96[,64]] [--memory-budget 4GiB] [--margin 0.05] [--max 1024]
// Every trial is one full training step of the real model in a fresh child process: a wasm heap
// exhausted there costs nothing.
import { parseArgs } from 'node:util';
import {
  bisectMaximum,
  DEFAULT_MEMORY_MARGIN,
  doublingBinarySearch,
  parseBytes,
  powerOfTwoSearch,
  type TrialRunner,
} from '@tfjs-ddp/core';
import { childTrialRunner, fitMicroBatch, memoryBudget, runProbeChild, type ProbedBackend } from '@tfjs-ddp/worker';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    resize: { type: 'string', default: '96' },
    'memory-budget': { type: 'string' },
    margin: { type: 'string', default: String(DEFAULT_MEMORY_MARGIN) },
    max: { type: 'string', default: '1024' },
  },
});

const backend = values.backend as ProbedBackend;
const margin = Number(values.margin);
const configured = values['memory-budget'] !== undefined ? parseBytes(values['memory-budget']) : null;
const max = Number(values.max);

/** Wraps a runner to count trial steps and their time. */
function counted(run: TrialRunner): TrialRunner & { steps: number; ms: number } {
  const c = Object.assign(
    async (sizes: number[]) => {
      const t0 = performance.now();
      const r = await run(sizes);
      c.steps += r.length;
      c.ms += performance.now() - t0;
      return r;
    },
    { steps: 0, ms: 0 },
  );
  return c;
}

for (const resize of values.resize.split(',').map(Number)) {
  const model = { backend, resize, pool: 'max' as const, seed: 0 };
  const budget = memoryBudget(backend, configured);
  const usable = Math.floor(budget * (1 - margin));
  const line = (o: object) => console.log(JSON.stringify({ backend, resize, budget_bytes: budget, usable_bytes: usable, ...o }));

  // The product's search.
  const t0 = performance.now();
  const fit = await fitMicroBatch({ ...model, budgetBytes: configured, margin, maxMicroBatch: max });
  line({
    strategy: 'tfjs-ddp fit',
    micro_batch: fit.microBatch,
    trial_steps: fit.trials.length,
    seconds: (performance.now() - t0) / 1000,
    bytes_per_sample: fit.model?.bytesPerSample ?? null,
    base_bytes: fit.model?.baseBytes ?? null,
    trials: fit.trials.map((t) => [t.microBatch, t.peakBytes]),
  });

  // The truth: the largest micro-batch whose step runs at all (no budget: the backend's own limit),
  // and the largest within the usable budget, both by bisection around the fitted prediction.
  const at = async (b: number) => (await runProbeChild(model, [b]))[0]!;
  let hi = Math.max(2, fit.microBatch * 2);
  while ((await at(hi)).ran && hi < 16 * max) hi *= 2;
  const truth = await bisectMaximum(async (b) => (await at(b)).ran, fit.microBatch, hi);
  line({ strategy: 'true maximum (bisection: runs at all)', micro_batch: truth.maximum, trial_steps: truth.probes });
  const within = await bisectMaximum(async (b) => {
    const t = await at(b);
    return t.ran && (t.peakBytes ?? Infinity) <= usable;
  }, fit.microBatch, truth.maximum + 1);
  line({ strategy: 'true maximum within the usable budget (bisection)', micro_batch: within.maximum, trial_steps: within.probes });
  line({ strategy: 'tfjs-ddp fit vs truth', ratio_to_true_maximum: fit.microBatch / truth.maximum, ratio_to_usable_maximum: fit.microBatch / within.maximum });

  // Lightning's strategies through the same probe (each trial a fresh child) and the same budget.
  for (const [name, strategy] of [
    ['lightning power (2, 4, 8, …)', powerOfTwoSearch],
    ['lightning binsearch (double, then bisect)', doublingBinarySearch],
  ] as const) {
    const run = counted(childTrialRunner(model));
    const s0 = performance.now();
    const r = await strategy((sizes) => run(sizes), { usableBytes: usable, init: 2, maxMicroBatch: 16 * max });
    line({ strategy: name, micro_batch: r.microBatch, trial_steps: r.trials.length, seconds: (performance.now() - s0) / 1000, ratio_to_true_maximum: r.microBatch / truth.maximum });
  }
}
