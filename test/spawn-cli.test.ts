// The test harness itself: a run that a test leaves behind (it failed, or timed out) is killed with
// every process it started when the test ends, so it cannot slow down or disturb later tests.
import { readdirSync, readFileSync } from 'node:fs';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { describe, expect, it } from 'vitest';
import { startCli, tmp } from './support/spawn-cli';

// Tests here act on a run after one of its step lines: its runs take the wasm kernels' steps, for
// which they were written (with the native kernels a short run can end before the test acts).
process.env['TFJS_DDP_CPU_KERNELS'] = 'wasm';

let leftBehind: number[] = [];

/** Running, or stopped; a zombie (killed, not yet reaped) is not alive. */
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

describe('spawn-cli', () => {
  it('leaves a long training run running when this test ends (as a failed test would)', async () => {
    const data = tmp('data');
    await writeSyntheticFashionMnist(data, { train: 64, test: 16, seed: 1 });
    // 100 epochs: minutes of work, far longer than this file runs.
    const run = startCli(['train', '--backend', 'wasm', '--workers', '2', '--resize', '32', '--micro-batch', '8', '--batch-size', '16', '--epochs', '100', '--data-dir', data, '--verify-data', 'false', '--run-dir', tmp('run')]);
    await run.waitForLine(/"type":"step"/);
    leftBehind = [run.child.pid!];
    expect(alive(run.child.pid!)).toBe(true);
  });

  it('finds nothing of it afterwards: the run was killed with its process group', async () => {
    expect(leftBehind).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 200));
    for (const pid of leftBehind) expect(alive(pid)).toBe(false);
    // Nor any process of its group (its local workers).
    const members = readdirSync('/proc').filter((d) => /^\d+$/.test(d) && alive(Number(d))).filter((d) => {
      try {
        return readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ')[2] === String(leftBehind[0]);
      } catch {
        return false;
      }
    });
    expect(members).toEqual([]);
  });
});
