// Memory-fit micro-batch search: predict the largest micro-batch that fits a memory budget from a
// few measured trial steps, instead of crashing into the limit. A trial is one full training step at
// a given micro-batch, run by the caller where a failure costs nothing (a child process), reporting
// the high-water mark of the memory the budget limits. Pure: the trials are a function argument, so
// the same search runs against real child processes, the benchmark's strategies, and the unit tests'
// fake memory model.
import { DdpError } from '../errors';
import { formatBytes } from './bytes';

/** What one trial step at `microBatch` observed. */
export interface Trial {
  microBatch: number;
  /** The step completed (no out-of-memory, no crash). */
  ran: boolean;
  /** High-water mark of the limited memory during the step, when it could be read. */
  peakBytes: number | null;
  /** Why it did not run, when it did not. */
  error?: string;
}

/**
 * Runs trial steps at the given micro-batches, in order, in one place (memory only grows, so the
 * sizes must increase); stops at the first that does not run, and returns the trials done.
 */
export type TrialRunner = (sizes: number[]) => Promise<Trial[]>;

/** Footprint model: peak bytes ≈ baseBytes + bytesPerSample · microBatch. */
export interface MemoryModel {
  baseBytes: number;
  bytesPerSample: number;
}

export interface SearchOptions {
  /** Bytes the limited memory may hold (a device's total, the wasm heap cap, or --memory-budget). */
  budgetBytes: number;
  /** Fraction of the budget kept free (fragmentation, growth steps, variation between steps). */
  margin: number;
  /** The largest micro-batch worth finding (no rank ever computes more samples at once). */
  maxMicroBatch: number;
  /** The two small micro-batches measured to fit the model, e.g. [4, 16]. */
  probes: [number, number];
}

export interface SearchResult {
  /** The chosen micro-batch: fits the usable budget (confirmed by a trial), or maxMicroBatch. */
  microBatch: number;
  /** budget · (1 − margin). */
  usableBytes: number;
  model: MemoryModel | null;
  trials: Trial[];
  /** True when maxMicroBatch fits, so the true capacity may be larger. */
  capped: boolean;
}

/** Default share of the budget kept free. */
export const DEFAULT_MEMORY_MARGIN = 0.05;

/** Least-squares line through (microBatch, peakBytes); with one point, a line through the origin. */
export function fitMemoryModel(points: { microBatch: number; peakBytes: number }[]): MemoryModel {
  if (points.length === 0) throw new DdpError('E_INTERNAL', 'fitMemoryModel: no points');
  if (points.length === 1 || points.every((p) => p.microBatch === points[0]!.microBatch)) {
    const p = points[0]!;
    return { baseBytes: 0, bytesPerSample: p.peakBytes / p.microBatch };
  }
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.microBatch, 0) / n;
  const my = points.reduce((s, p) => s + p.peakBytes, 0) / n;
  const sxy = points.reduce((s, p) => s + (p.microBatch - mx) * (p.peakBytes - my), 0);
  const sxx = points.reduce((s, p) => s + (p.microBatch - mx) ** 2, 0);
  // A footprint never shrinks with the batch: a flat or negative slope is measurement noise.
  const slope = Math.max(sxy / sxx, 1);
  return { baseBytes: my - slope * mx, bytesPerSample: slope };
}

/** The largest micro-batch the model predicts within `usableBytes` (0 when not even one fits). */
export function predictMicroBatch(model: MemoryModel, usableBytes: number): number {
  return Math.max(0, Math.floor((usableBytes - model.baseBytes) / model.bytesPerSample));
}

/** A trial that ran within the usable budget. */
export function fits(t: Trial, usableBytes: number): boolean {
  return t.ran && (t.peakBytes === null || t.peakBytes <= usableBytes);
}

function measured(ts: Trial[]): { microBatch: number; peakBytes: number }[] {
  return ts.filter((t) => t.peakBytes !== null).map((t) => ({ microBatch: t.microBatch, peakBytes: t.peakBytes! }));
}

/**
 * How far below the usable budget the first confirmation aims: two small probes extrapolate poorly
 * (allocator fragmentation makes the footprint lumpy), and a first confirmation that fits gives a
 * measurement close to the limit to extrapolate from, and a fallback close to it.
 */
export const FIRST_AIM = 0.96;

/**
 * The product's search, at most 4 trial steps: measure the two probes, fit the footprint line and
 * (when even the smaller probe is over the budget: measure 1, and try what a line through 1 predicts)
 * confirm a micro-batch predicted to use FIRST_AIM of the usable budget (budget · (1 − margin)).
 * Refit through the two largest measurements and try the prediction at the full usable budget, or,
 * if the first confirmation did not fit, at FIRST_AIM again. Returns the largest trial that fitted:
 * never an unconfirmed micro-batch.
 * @throws DdpError E_MEMORY when not even one sample fits.
 */
export async function searchMicroBatch(run: TrialRunner, o: SearchOptions): Promise<SearchResult> {
  const usable = Math.floor(o.budgetBytes * (1 - o.margin));
  const max = Math.max(1, Math.floor(o.maxMicroBatch));
  const trials: Trial[] = [];
  const best = () => Math.max(0, ...trials.filter((t) => fits(t, usable)).map((t) => t.microBatch));
  const result = (model: MemoryModel | null): SearchResult => {
    const microBatch = best();
    return { microBatch, usableBytes: usable, model, trials, capped: microBatch >= max };
  };
  const noneFits = (): never => {
    throw new DdpError(
      'E_MEMORY',
      `not even a micro-batch of 1 fits the memory budget (usable ${formatBytes(usable)}): ${trials.map((t) => `${t.microBatch} → ${t.ran ? formatBytes(t.peakBytes ?? 0) : `failed (${t.error ?? 'no reason'})`}`).join(', ')}`,
      'raise --memory-budget, lower --resize, or use a device with more memory',
    );
  };
  const tryAt = async (b: number): Promise<Trial> => {
    const [t] = await run([b]);
    trials.push(t!);
    return t!;
  };
  /** Line through the two largest measured trials. */
  const refit = () => fitMemoryModel(measured(trials.filter((t) => t.ran)).sort((a, b) => a.microBatch - b.microBatch).slice(-2));

  const probes = [...new Set(o.probes.map((p) => Math.min(max, Math.max(1, Math.floor(p)))))].sort((a, b) => a - b);
  trials.push(...(await run(probes)));
  if (!fits(trials[0]!, usable)) {
    if (probes[0] === 1) noneFits();
    if (!fits(await tryAt(1), usable)) noneFits();
    // 1 fits and the smaller probe does not: a line through 1 and that probe (when it ran, over the
    // budget but measured) or through 1 alone (which overstates the per-sample bytes, so it predicts
    // too few, never too many) finds what lies between, with one trial more.
    const low = fitMemoryModel(measured(trials.filter((t) => t.ran)).sort((a, b) => a.microBatch - b.microBatch).slice(0, 2));
    const between = Math.min(probes[0]! - 1, max, predictMicroBatch(low, usable * FIRST_AIM));
    if (between > 1) await tryAt(between);
    return result(low);
  }
  // Every probe that ran measured its footprint, whether or not it fitted the usable budget.
  if (measured(trials.filter((t) => t.ran)).length < 2) return result(null); // the larger probe crashed, or no footprint could be read
  let model = refit();
  const first = Math.min(max, predictMicroBatch(model, usable * FIRST_AIM));
  if (first <= best()) return result(model);
  const t1 = await tryAt(first);
  let second: number;
  if (t1.peakBytes === null) {
    // Crashed: it measured nothing, so the model is wrong by an unknown factor somewhere between the
    // best that fitted and `first`. The geometric mean halves that factor's logarithm (a footprint
    // that grows 3× faster beyond the probes: 53 of a true 82, where 0.75·first found nothing).
    second = Math.floor(Math.sqrt(Math.max(1, best()) * first));
  } else {
    model = refit();
    second = Math.min(max, predictMicroBatch(model, fits(t1, usable) ? usable : usable * FIRST_AIM));
    if (!fits(t1, usable)) second = Math.min(second, first - 1);
  }
  if (second > best()) await tryAt(second);
  return result(model);
}

export interface StrategyResult {
  microBatch: number;
  trials: Trial[];
}

/**
 * Lightning's `scale_batch_size(mode="power")`, for comparison: start at `init`, double while a
 * step fits, keep the last that fitted.
 */
export async function powerOfTwoSearch(run: TrialRunner, o: { usableBytes: number; init: number; maxMicroBatch: number; maxTrials?: number }): Promise<StrategyResult> {
  const trials: Trial[] = [];
  let ok = 0;
  for (let b = o.init; b <= o.maxMicroBatch && trials.length < (o.maxTrials ?? 25); b *= 2) {
    const [t] = await run([b]);
    trials.push(t!);
    if (!fits(t!, o.usableBytes)) break;
    ok = b;
  }
  return { microBatch: ok, trials };
}

/**
 * Lightning's `scale_batch_size(mode="binsearch")`, for comparison: double until a step does not
 * fit, then bisect between the last that fitted and the first that did not.
 */
export async function doublingBinarySearch(run: TrialRunner, o: { usableBytes: number; init: number; maxMicroBatch: number; maxTrials?: number }): Promise<StrategyResult> {
  const trials: Trial[] = [];
  const limit = o.maxTrials ?? 25;
  const tryAt = async (b: number) => {
    const [t] = await run([b]);
    trials.push(t!);
    return fits(t!, o.usableBytes);
  };
  let lo = 0;
  let hi = 0;
  for (let b = o.init; trials.length < limit; b *= 2) {
    if (b > o.maxMicroBatch) return { microBatch: lo, trials };
    if (!(await tryAt(b))) {
      hi = b;
      break;
    }
    lo = b;
  }
  while (hi - lo > 1 && trials.length < limit) {
    const mid = (lo + hi) >> 1;
    if (await tryAt(mid)) lo = mid;
    else hi = mid;
  }
  return { microBatch: lo, trials };
}

/**
 * The true largest micro-batch for which `runs` holds, by bisection between a known-good `lo`
 * (0 = none known) and a known-bad `hi`. For benchmarks: every probe is a full trial.
 */
export async function bisectMaximum(runs: (b: number) => Promise<boolean>, lo: number, hi: number): Promise<{ maximum: number; probes: number }> {
  let probes = 0;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    probes++;
    if (await runs(mid)) lo = mid;
    else hi = mid;
  }
  return { maximum: lo, probes };
}
