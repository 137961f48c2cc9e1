import { describe, expect, it } from 'vitest';
import { backOff, decide, onRanksLost, type FailureEvent, type LossState, type LostRank, type RunState } from './failure-policy';

const step41: RunState = { phase: 'step', step: 41, worldSize: 4 };

describe('the failure policy', () => {
  it.each<[string, RunState, FailureEvent, object]>([
    [
      'a killed worker aborts with its rank, pid, signal, step and last log line',
      step41,
      { kind: 'exited', rank: 2, pid: 4711, host: 'n1', code: null, signal: 'SIGKILL', lastLine: 'step started' },
      { kind: 'abort', code: 'E_WORKER_FAILED', message: 'rank 2 (pid 4711 on n1) was killed by SIGKILL at step 41; its last log line: step started' },
    ],
    [
      'a worker exiting with a code aborts naming the code',
      { phase: 'eval', step: 100, worldSize: 2 },
      { kind: 'exited', rank: 1, pid: 9, host: '', code: 1, signal: null, lastLine: null },
      { kind: 'abort', code: 'E_WORKER_FAILED', message: 'rank 1 (pid 9) exited with code 1 during evaluation after step 100' },
    ],
    [
      'a stall names the missing ranks and the step',
      step41,
      { kind: 'timeout', missingRanks: [1, 3], waitedMs: 30_000 },
      { kind: 'abort', code: 'E_TIMEOUT', message: 'ranks 1,3 have not finished step 41 after 30 s' },
    ],
    [
      'a rendezvous timeout says who did not join',
      { phase: 'rendezvous', step: 0, worldSize: 3 },
      { kind: 'timeout', missingRanks: [2], waitedMs: 120_000 },
      { kind: 'abort', code: 'E_TIMEOUT', message: 'rank 2 did not join after 120 s' },
    ],
    [
      'an invalid message is a protocol error',
      step41,
      { kind: 'protocol', rank: 0, message: 'version 2, expected 1' },
      { kind: 'abort', code: 'E_PROTOCOL', message: 'rank 0 sent an invalid message at step 41: version 2, expected 1' },
    ],
    ['a signal stops the run cleanly', step41, { kind: 'signal', signal: 'SIGINT' }, { kind: 'stop', reason: 'SIGINT' }],
  ])('%s', (_name, state, event, expected) => {
    expect(decide(state, event)).toMatchObject(expected);
  });

  it('suggests a smaller micro-batch when a worker was SIGKILLed (the OOM killer)', () => {
    const a = decide(step41, { kind: 'exited', rank: 0, pid: 1, host: '', code: null, signal: 'SIGKILL', lastLine: null });
    expect(a.kind === 'abort' && a.hint).toMatch(/--micro-batch/);
  });
});

describe('backOff (out of memory on a rank)', () => {
  it.each([
    [{ microBatch: 64, samples: 128 }, { kind: 'replay', microBatch: 32, accumulation: 4 }],
    [{ microBatch: 3, samples: 5 }, { kind: 'replay', microBatch: 1, accumulation: 5 }],
    [{ microBatch: 2, samples: 7 }, { kind: 'replay', microBatch: 1, accumulation: 7 }],
  ])('halves the micro-batch of %j and keeps the samples', (e, want) => {
    expect(backOff({ rank: 1, step: 9, reason: 'OOM', ...e })).toEqual({ rank: 1, ...want });
  });

  it('ends the run when one sample does not fit, saying what to do', () => {
    const a = backOff({ rank: 2, step: 4, microBatch: 1, samples: 16, reason: 'OOM when allocating' });
    expect(a).toMatchObject({ kind: 'abort', code: 'E_MEMORY' });
    expect(a.kind === 'abort' && `${a.message}; ${a.hint}`).toMatch(/rank 2 ran out of memory at step 4 with a micro-batch of 1 \(OOM when allocating\); .*--resize/);
  });
});

describe('onRanksLost (a worker died or stalled during a step)', () => {
  const killed: LostRank = { rank: 1, pid: 4711, host: 'n1', cause: 'was killed by SIGKILL', lastLines: ['step started', 'allreduce'] };
  const local: LossState = { step: 41, worldSize: 4, history: [], maxRestarts: 3, canRespawn: true, minWorkers: 4 };
  const remote: LossState = { ...local, canRespawn: false, minWorkers: 2 };
  const earlier = (rank: number, step: number) => ({ rank, pid: 100 + rank, host: '', cause: 'exited with code 1', lastLines: [], step, newPid: 200 + rank });

  it.each<[string, LossState, LostRank[], object]>([
    ['a local rank is replaced', local, [killed], { kind: 'replace', ranks: [1] }],
    ['two local ranks at once are replaced', local, [killed, { ...killed, rank: 3, pid: 4712 }], { kind: 'replace', ranks: [1, 3] }],
    ['the last restart --max-restarts allows is made', { ...local, history: [earlier(0, 3), earlier(2, 9)] }, [killed], { kind: 'replace', ranks: [1] }],
    [
      'past --max-restarts the run fails, listing every earlier restart',
      { ...local, maxRestarts: 1, history: [earlier(2, 9)] },
      [killed],
      {
        kind: 'abort',
        code: 'E_WORKER_FAILED',
        message:
          'rank 1 (pid 4711 on n1) was killed by SIGKILL at step 41; last log lines: step started | allreduce; the run has replaced 1 of the 1 workers --max-restarts allows: 1) rank 2 (pid 102) exited with code 1 at step 9',
      },
    ],
    ['--max-restarts 0 fails at the first loss', { ...local, maxRestarts: 0 }, [killed], { kind: 'abort', code: 'E_WORKER_FAILED' }],
    ['workers on other hosts are not replaced', { ...local, canRespawn: false }, [killed], { kind: 'abort', code: 'E_WORKER_FAILED', hint: expect.stringMatching(/other hosts.*--resume/) }],
    ['workers on other hosts are dropped while --min-workers remain', remote, [killed, { ...killed, rank: 3 }], { kind: 'shrink', ranks: [1, 3] }],
    [
      'below --min-workers the run fails, saying so',
      remote,
      [killed, { ...killed, rank: 2 }, { ...killed, rank: 3 }],
      { kind: 'abort', code: 'E_WORKER_FAILED', message: expect.stringMatching(/\(1 would remain, fewer than --min-workers 2\)$/) },
    ],
    [
      'every rank lost at once fails, even where replacements could start: no rank holds the state',
      { ...local, worldSize: 2 },
      [{ ...killed, rank: 0, pid: 4710 }, killed],
      { kind: 'abort', code: 'E_WORKER_FAILED', message: expect.stringMatching(/^every rank was lost at once: rank 0 .*; rank 1 /), hint: expect.stringMatching(/--resume RUN_DIR/) },
    ],
    ['a single worker is not replaced', { ...local, worldSize: 1 }, [killed], { kind: 'abort', code: 'E_WORKER_FAILED', hint: expect.stringMatching(/coordinator's process/) }],
  ])('%s', (_name, state, lost, expected) => {
    expect(onRanksLost(state, lost)).toMatchObject(expected);
  });

  it('names the way to continue when it gives up', () => {
    const a = onRanksLost({ ...local, maxRestarts: 0 }, [killed]);
    expect(a.kind === 'abort' && a.hint).toMatch(/tfjs-ddp train --resume RUN_DIR/);
  });
});
