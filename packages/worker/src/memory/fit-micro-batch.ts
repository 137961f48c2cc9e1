// The memory-fit search as a worker runs it: trial steps in throw-away child processes (a failure
// there costs nothing; on wasm it would corrupt this process's backend for good), fitted and
// confirmed by searchMicroBatch (@tfjs-ddp/core). Called before the worker builds its engine, by
// `tfjs-ddp find-batch`, and by the batch-search benchmark.
import { fork } from 'node:child_process';
import {
  DEFAULT_MEMORY_MARGIN,
  DdpError,
  type DdpErrorCode,
  searchMicroBatch,
  shippedFile,
  type SearchResult,
  type Trial,
  type TrialRunner,
} from '@tfjs-ddp/core';
import { memoryBudget, type ProbedBackend } from './memory-probe';
import type { TaskWorkerSettings } from '../task/open-task';
import type { ProbeReply, ProbeRequest } from './probe-child';

/** The memory-probe child's entry: bin/ here (through tsx), dist/probe-child.js in the package. */
export const PROBE_CHILD = shippedFile(import.meta.url, { source: '../../bin/probe-child.js', bundle: './probe-child.js' });

/** What a probe child trains: the backend and the task (the seed's unless `task` names others). */
export interface ProbeModel extends Omit<TaskWorkerSettings, 'dataDir' | 'verifyData'> {
  backend: string;
  /** The data directory and checksum setting of the task's data (default: its own search, verified). */
  dataDir?: string | null;
  verifyData?: boolean;
}

export interface ProbeTrial extends Trial {
  ms: number;
}

/**
 * Runs trial steps at `sizes` (increasing) in one fresh child process and returns them. A child that
 * dies (a wasm abort, the kernel's OOM killer) fails the size it was on.
 */
export function runProbeChild(m: ProbeModel, sizes: number[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ProbeTrial[]> {
  return new Promise((resolve, reject) => {
    const child = fork(PROBE_CHILD, [], { env: opts.env ?? process.env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv: [] });
    const trials: ProbeTrial[] = [];
    let ready = false;
    let stderr = '';
    let started = 0;
    let failed: DdpError | null = null;
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30 * 60_000);
    child.on('message', (msg) => {
      const r = msg as ProbeReply;
      if (r.type === 'ready') {
        ready = true;
        started = performance.now();
      } else if (r.type === 'trial') {
        trials.push(r.trial);
        started = performance.now();
      } else if (r.type === 'error') {
        failed = taskError(r);
      }
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new DdpError('E_MEMORY', `the memory probe could not start (${e.message})`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (failed !== null) {
        reject(failed);
        return;
      }
      const done = trials.length;
      if (done < sizes.length && (done === 0 || trials[done - 1]!.ran)) {
        if (!ready) {
          const last = stderr.trim().split('\n').at(-1) ?? '';
          reject(new DdpError('E_MEMORY', `the memory probe exited before its first trial (${signal ?? `code ${code}`}): ${last}`, 'check that the backend loads: tfjs-ddp info'));
          return;
        }
        const why = stderr.trim().split('\n').filter((l) => l.trim() !== '').at(-1) ?? '';
        trials.push({ microBatch: sizes[done]!, ran: false, peakBytes: null, error: `probe process ${signal !== null ? `killed by ${signal}` : `exited with code ${code}`}${why ? `: ${why.slice(0, 200)}` : ''}`, ms: performance.now() - started });
      }
      resolve(trials);
    });
    const { backend, ...settings } = m;
    const req: ProbeRequest = { type: 'probe', backend, settings: { ...settings, dataDir: m.dataDir ?? null, verifyData: m.verifyData ?? true }, sizes };
    child.send(req);
  });
}

/**
 * A trial that failed for another reason than memory, as the search's error: the task's own DdpError
 * (E_TASK from its modules) as it is; any other error, thrown by the model or the loss, as E_TASK.
 */
function taskError(r: Extract<ProbeReply, { type: 'error' }>): DdpError {
  if (r.code.startsWith('E_')) return new DdpError(r.code as DdpErrorCode, r.message, r.hint);
  return new DdpError(
    'E_TASK',
    `a trial step of ${r.microBatch} sample${r.microBatch === 1 ? '' : 's'} failed, not for memory: ${r.message}`,
    'try the task in one process with `tfjs-ddp check` and the same --model, --data and --set',
  );
}

/** A TrialRunner over probe children (a fresh one per call), keeping every trial it ran. */
export function childTrialRunner(m: ProbeModel, env?: NodeJS.ProcessEnv): TrialRunner & { trials: ProbeTrial[] } {
  const all: ProbeTrial[] = [];
  const run = async (sizes: number[]) => {
    const trials = await runProbeChild(m, sizes, env ? { env } : {});
    all.push(...trials);
    return trials;
  };
  return Object.assign(run, { trials: all });
}

/** Default probes: 4 and 16 samples at 96×96, scaled by the pixel count (far enough apart for a good fit, cheap to run). */
export function defaultProbes(resize: number, maxMicroBatch: number): [number, number] {
  const big = Math.max(2, Math.min(maxMicroBatch, Math.round(16 * (96 / resize) ** 2)));
  return [Math.max(1, Math.round(big / 4)), big];
}

export interface FitOptions extends ProbeModel {
  /** Concrete backend the worker runs (what `auto` chose), which decides what memory is probed. */
  backend: ProbedBackend;
  /** --memory-budget in bytes, or null for the backend's own limit. */
  budgetBytes: number | null;
  margin?: number;
  /** No rank ever computes more samples at once than this (the global batch). */
  maxMicroBatch: number;
  env?: NodeJS.ProcessEnv;
}

export interface FitResult extends SearchResult {
  budgetBytes: number;
  ms: number;
  trials: ProbeTrial[];
}

/** Finds the largest micro-batch that fits this worker's memory, with at most 4 trial steps in child processes. */
export async function fitMicroBatch(o: FitOptions): Promise<FitResult> {
  const t0 = performance.now();
  const budget = memoryBudget(o.backend, o.budgetBytes, o.env ?? process.env);
  const runner = childTrialRunner(o, o.env);
  const r = await searchMicroBatch(runner, {
    budgetBytes: budget,
    margin: o.margin ?? DEFAULT_MEMORY_MARGIN,
    maxMicroBatch: o.maxMicroBatch,
    probes: defaultProbes(o.resize, o.maxMicroBatch),
  });
  return { ...r, trials: runner.trials, budgetBytes: budget, ms: performance.now() - t0 };
}
