// What the coordinator does when something goes wrong: pure functions from (state, event) to an
// action, tested as tables. A failing worker aborts the run with the root cause named (decide); a
// worker lost during a step is replaced while --max-restarts allows (onRanksLost); an out-of-memory
// on a rank replays the step with a smaller micro-batch on that rank (backOff).
import type { RestartRecord } from '@tfjs-ddp/core';

export type Phase = 'rendezvous' | 'step' | 'eval' | 'save';

export interface RunState {
  phase: Phase;
  /** Current global step (0 before the first). */
  step: number;
  worldSize: number;
}

export type FailureEvent =
  | { kind: 'exited'; rank: number | null; pid: number; host: string; code: number | null; signal: string | null; lastLine: string | null }
  /** detail: what the stall inspector found about the missing ranks. */
  | { kind: 'timeout'; missingRanks: number[]; waitedMs: number; detail?: string }
  | { kind: 'worker-error'; rank: number; code: string; message: string }
  | { kind: 'protocol'; rank: number | null; message: string }
  | { kind: 'signal'; signal: string };

export type Action =
  | { kind: 'abort'; code: 'E_WORKER_FAILED' | 'E_TIMEOUT' | 'E_PROTOCOL'; message: string; hint: string }
  | { kind: 'stop'; reason: string };

function where(s: RunState): string {
  if (s.phase === 'rendezvous') return 'during rendezvous';
  if (s.phase === 'step') return `at step ${s.step}`;
  return `during ${s.phase === 'eval' ? 'evaluation' : 'checkpointing'} after step ${s.step}`;
}

function who(rank: number | null, pid: number, host: string): string {
  return `${rank === null ? 'a worker' : `rank ${rank}`} (pid ${pid}${host ? ` on ${host}` : ''})`;
}

/** 'was killed by SIGKILL' or 'exited with code 1'. */
export function exitCause(e: { code: number | null; signal: string | null }): string {
  return e.signal !== null ? `was killed by ${e.signal}` : `exited with code ${e.code}`;
}

export function decide(state: RunState, event: FailureEvent): Action {
  switch (event.kind) {
    case 'exited': {
      const how = exitCause(event);
      const last = event.lastLine ? `; its last log line: ${event.lastLine}` : '';
      return {
        kind: 'abort',
        code: 'E_WORKER_FAILED',
        message: `${who(event.rank, event.pid, event.host)} ${how} ${where(state)}${last}`,
        hint: event.signal === 'SIGKILL' ? 'a SIGKILL often means the system ran out of memory: try a smaller --micro-batch' : 'see the worker log in the run directory',
      };
    }
    case 'timeout':
      return {
        kind: 'abort',
        code: 'E_TIMEOUT',
        message: `${event.missingRanks.length === 1 ? 'rank' : 'ranks'} ${event.missingRanks.join(',')} ${state.phase === 'rendezvous' ? 'did not join' : `have not finished ${state.phase === 'step' ? `step ${state.step}` : where(state).replace(/^during /, '')}`} after ${Math.round(event.waitedMs / 1000)} s${event.detail !== undefined ? `: ${event.detail}` : ''}`,
        hint: state.phase === 'rendezvous' ? 'check that every worker can reach the coordinator address and that --world-size matches' : 'a worker is stuck or too slow: check its log, or raise --step-timeout',
      };
    case 'worker-error':
      return { kind: 'abort', code: 'E_WORKER_FAILED', message: `rank ${event.rank} failed ${where(state)} (${event.code}): ${event.message}`, hint: 'see the worker log in the run directory' };
    case 'protocol':
      return {
        kind: 'abort',
        code: 'E_PROTOCOL',
        message: `${event.rank === null ? 'a peer' : `rank ${event.rank}`} sent an invalid message ${where(state)}: ${event.message}`,
        hint: 'run the same tfjs-ddp version on every host',
      };
    case 'signal':
      return { kind: 'stop', reason: event.signal };
  }
}

/** A rank's out-of-memory in a step: what it ran, with how many samples in its slice. */
export interface OomEvent {
  rank: number;
  step: number;
  /** The micro-batch that did not fit. */
  microBatch: number;
  /** The rank's samples in this step. */
  samples: number;
  reason: string;
}

export type BackOff =
  | { kind: 'replay'; rank: number; microBatch: number; accumulation: number }
  | { kind: 'abort'; code: 'E_MEMORY'; message: string; hint: string };

/**
 * Halves the micro-batch of the rank that ran out of memory (same samples, more accumulation: the
 * global batch does not change); a rank that cannot fit one sample ends the run.
 */
export function backOff(e: OomEvent): BackOff {
  if (e.microBatch <= 1) {
    return {
      kind: 'abort',
      code: 'E_MEMORY',
      message: `rank ${e.rank} ran out of memory at step ${e.step} with a micro-batch of 1 (${e.reason})`,
      hint: 'the model does not fit this device: lower --resize, or use a device with more memory',
    };
  }
  const microBatch = Math.max(1, Math.floor(e.microBatch / 2));
  return { kind: 'replay', rank: e.rank, microBatch, accumulation: Math.ceil(e.samples / microBatch) };
}

/** A rank whose process was lost during a step: it exited, or it stalled (and is killed). */
export interface LostRank {
  rank: number;
  pid: number;
  host: string;
  /** E.g. 'was killed by SIGKILL', 'stalled: …'. */
  cause: string;
  /** The last lines of its log, oldest first (local workers; [] otherwise). */
  lastLines: string[];
}

export interface LossState {
  step: number;
  worldSize: number;
  /** Replacements so far in this run, oldest first. */
  history: RestartRecord[];
  maxRestarts: number;
  /** The coordinator can start processes for these ranks (local workers). */
  canRespawn: boolean;
  /** The fewest ranks the run may go on with (elastic, workers on other hosts); worldSize = none fewer. */
  minWorkers: number;
}

export type LossAction =
  | { kind: 'replace'; ranks: number[] }
  | { kind: 'shrink'; ranks: number[] }
  | { kind: 'abort'; code: 'E_WORKER_FAILED'; message: string; hint: string };

function lostLine(l: { rank: number; pid: number; host: string; cause: string; step: number; lastLines: string[] }): string {
  const log = l.lastLines.length > 0 ? `; last log lines: ${l.lastLines.join(' | ')}` : '';
  return `${who(l.rank, l.pid, l.host)} ${l.cause} at step ${l.step}${log}`;
}

/**
 * Ranks lost during a step: replaced by new processes (synced from a healthy rank, the step then
 * finished or replayed) while the run may still restart that many; otherwise the run fails with the
 * root cause and every earlier restart.
 */
export function onRanksLost(s: LossState, lost: LostRank[]): LossAction {
  const now = lost.map((l) => lostLine({ ...l, step: s.step })).join('; ');
  const resume = 'the newest checkpoint continues the run: tfjs-ddp train --resume RUN_DIR';
  const remaining = s.worldSize - lost.length;
  // Nobody holds the weights and optimizer state to sync a replacement from: only a checkpoint can.
  if (remaining === 0 && s.worldSize >= 2)
    return {
      kind: 'abort',
      code: 'E_WORKER_FAILED',
      message: `every rank was lost at once: ${now}`,
      hint: `no rank is left to take the training state from; ${resume}`,
    };
  if (!s.canRespawn && remaining >= 1 && remaining >= s.minWorkers) return { kind: 'shrink', ranks: lost.map((l) => l.rank) };
  if (!s.canRespawn || s.worldSize < 2) {
    const elastic = !s.canRespawn && s.minWorkers < s.worldSize ? ` (${remaining} would remain, fewer than --min-workers ${s.minWorkers})` : '';
    return {
      kind: 'abort',
      code: 'E_WORKER_FAILED',
      message: `${now}${elastic}`,
      hint: s.worldSize < 2 ? `a worker in the coordinator's process cannot be replaced; ${resume}` : `workers on other hosts are not replaced (--min-workers lets the run go on without them); ${resume}`,
    };
  }
  if (s.history.length + lost.length > s.maxRestarts) {
    const before = s.history.map((r, i) => `${i + 1}) ${lostLine(r)}`).join(' ');
    return {
      kind: 'abort',
      code: 'E_WORKER_FAILED',
      message: `${now}; the run has replaced ${s.history.length} of the ${s.maxRestarts} workers --max-restarts allows${before === '' ? '' : `: ${before}`}`,
      hint: `find the cause in the worker logs; ${resume} (raise --max-restarts to allow more)`,
    };
  }
  return { kind: 'replace', ranks: lost.map((l) => l.rank) };
}
