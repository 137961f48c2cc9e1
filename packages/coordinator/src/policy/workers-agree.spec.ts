import type { WorkerDescription } from '@tfjs-ddp/core';
import { describe, expect, it } from 'vitest';
import { worker } from '../loop/scripted-group';
import { checkWorkersAgree } from './workers-agree';

const task = (modelSha256: string | null): WorkerDescription['task'] => ({
  model: './m.js',
  modelSha256,
  data: 'builtin:fashion-mnist',
  dataSha256: null,
});

describe('checkWorkersAgree', () => {
  it('accepts ranks that built the same model from the same data, whatever their capacities', () => {
    expect(() =>
      checkWorkersAgree([
        { ...worker(0, 32), task: task('ab') },
        { ...worker(1, 8), task: task('ab') },
      ]),
    ).not.toThrow();
  });

  it('names the rank, its host and both module hashes when a rank imported another model module', () => {
    const e = (() => {
      try {
        checkWorkersAgree([
          { ...worker(0, 32), task: task('ab') },
          { ...worker(1, 32), task: task('cd') },
        ]);
      } catch (x) {
        return x;
      }
    })();
    expect(e).toMatchObject({
      code: 'E_TASK',
      message: expect.stringContaining(
        'rank 1 (h, pid 101) imported the model module ./m.js (SHA-256 cd) but rank 0 (h) imported ./m.js (SHA-256 ab)',
      ),
    });
  });

  it('checks the modules before the counts they explain', () => {
    expect(() =>
      checkWorkersAgree([
        { ...worker(0, 32), task: task('ab') },
        { ...worker(1, 32), params: 11, task: task(null) },
      ]),
    ).toThrow(/E_TASK/);
  });

  it('refuses ranks with another parameter count or other data', () => {
    expect(() => checkWorkersAgree([worker(0, 32), { ...worker(1, 32), params: 11 }])).toThrow(
      /E_CONFIG.*params 11 but rank 0 has 10.*same tfjs-ddp version/,
    );
    expect(() => checkWorkersAgree([worker(0, 32), worker(1, 32, 999)])).toThrow(
      /E_CONFIG.*trainCount 999.*same data files/,
    );
  });

  it('refuses an empty group', () => {
    expect(() => checkWorkersAgree([])).toThrow(/E_INTERNAL/);
  });
});
