// LocalWorkers over real child processes (`node -e`): logs appended with the resume marker, exits
// reported, and stop() leaving no timer behind (a pending grace timer once kept every `train`
// alive for 5 s after its work was done).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalWorkers, type WorkerExit } from './local-launcher';

const dir = mkdtempSync(join(tmpdir(), 'tfjs-ddp-launcher-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

function launch(script: string, onExit: (e: WorkerExit) => void = () => undefined): LocalWorkers {
  return new LocalWorkers(
    {
      count: 2,
      command: process.execPath,
      args: ['-e', script],
      envFor: (i) => ({ WORKER_INDEX: String(i) }),
      logDir: dir,
      resumedFrom: 7,
    },
    onExit,
  );
}

describe('LocalWorkers', () => {
  it('stops workers that exit by themselves without leaving a timer to wait for', async () => {
    const before = timers();
    const workers = launch("process.stderr.write('worker ' + process.env.WORKER_INDEX + ' done\\n')");
    const t0 = performance.now();
    await workers.stop();
    expect(performance.now() - t0).toBeLessThan(4000); // the grace is 5 s: it was not waited out
    expect(timers()).toBeLessThanOrEqual(before);
    const log = readFileSync(join(dir, 'worker-1.log'), 'utf8').trim().split('\n');
    expect(JSON.parse(log[0]!)).toMatchObject({
      role: 'launcher',
      rank: 1,
      from_step: 7,
      msg: 'run resumed: the log goes on',
    });
    expect(log[1]).toBe('worker 1 done');
  });

  it('reports a worker that dies before stop(), with its last line', async () => {
    const exits: WorkerExit[] = [];
    const workers = launch(
      "if (process.env.WORKER_INDEX === '0') { console.error('out of luck'); process.exit(3) }",
      (e) => exits.push(e),
    );
    await new Promise((r) => setTimeout(r, 1500));
    await workers.stop();
    // Both ended before stop(): each exit is reported, the failed one with its last line.
    expect(exits.sort((a, b) => a.index - b.index)).toEqual([
      expect.objectContaining({ index: 0, code: 3, lastLine: 'out of luck' }),
      expect.objectContaining({ index: 1, code: 0 }),
    ]);
  });
});
