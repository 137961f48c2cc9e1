// What the coordinator does when something goes wrong: pure functions from (state, event) to an
// action, tested as tables. A lost or failing worker aborts the run with the root cause named; an
// out-of-memory on a rank replays the step with a smaller micro-batch on that rank (backOff).

export type Phase = 'rendezvous' | 'step' | 'eval' | 'save';

export interface RunState {
  phase: Phase;
  /** Current global step (0 before the first). */
  step: number;
  worldSize: number;
}

export type FailureEvent =
  | { kind: 'exited'; rank: number | null; pid: number; host: string; code: number | null; signal: string | null; lastLine: string | null }
  | { kind: 'timeout'; missingRanks: number[]; waitedMs: number }
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

export function decide(state: RunState, event: FailureEvent): Action {
  switch (event.kind) {
    case 'exited': {
      const how = event.signal !== null ? `was killed by ${event.signal}` : `exited with code ${event.code}`;
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
        message: `${event.missingRanks.length === 1 ? 'rank' : 'ranks'} ${event.missingRanks.join(',')} ${state.phase === 'rendezvous' ? 'did not join' : `have not finished ${state.phase === 'step' ? `step ${state.step}` : where(state).replace(/^during /, '')}`} after ${Math.round(event.waitedMs / 1000)} s`,
        hint: state.phase === 'rendezvous' ? 'check that every worker can reach the coordinator address and that --world-size matches' : 'a worker is stuck or too slow: check its log, or raise --step-timeout',
      };
    case 'worker-error':
      return { kind: 'abort', code: 'E_WORKER_FAILED', message: `rank ${event.rank} failed ${where(state)}: ${event.message}`, hint: 'see the worker log in the run directory' };
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
