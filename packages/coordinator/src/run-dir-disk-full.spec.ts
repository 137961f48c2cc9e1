// RunDir, train.log and the worker logs on a full disk (/dev/full: every write fails with ENOSPC):
// E_DISK_FULL naming the file, the reserve given back for the summary, and logs that drop lines
// instead of throwing.
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { LocalWorkers } from './launch/local-launcher';
import { DISK_RESERVE_FILE, RunDir } from './run-dir';
import { wholeLineDestination } from './run-log';

describe.runIf(existsSync('/dev/full'))('a run directory on a full disk', () => {
  it('fails a metric with E_DISK_FULL naming metrics.jsonl, and gives its reserve back so the summary fits', () => {
    const run = new RunDir(join(mkdtempSync(join(tmpdir(), 'tfjs-ddp-full-')), 'r'));
    run.metric({ event: 'start' });
    expect(existsSync(run.file(DISK_RESERVE_FILE))).toBe(true);
    const lines = readFileSync(run.file('metrics.jsonl'), 'utf8');
    rmSync(run.file('metrics.jsonl'));
    symlinkSync('/dev/full', run.file('metrics.jsonl'));
    expect(() => run.metric({ event: 'step', step: 1 })).toThrow(
      new RegExp(`^E_DISK_FULL: no space left to write to ${run.file('metrics.jsonl')} \\(ENOSPC\\)`),
    );
    expect(existsSync(run.file(DISK_RESERVE_FILE))).toBe(false);
    run.writeSummary({ status: 'failed' } as never);
    expect(JSON.parse(readFileSync(run.file('summary.json'), 'utf8'))).toEqual({ status: 'failed' });
    expect(JSON.parse(lines)).toMatchObject({ event: 'start' });
  });

  it('writes train.log lines whole, and drops the ones that do not fit with one warning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tfjs-ddp-full-'));
    const warned: string[] = [];
    const ok = wholeLineDestination(join(dir, 'train.log'), (t) => warned.push(t));
    ok.write('{"msg":"a"}\n');
    expect(readFileSync(join(dir, 'train.log'), 'utf8')).toBe('{"msg":"a"}\n');
    symlinkSync('/dev/full', join(dir, 'full.log'));
    const d = wholeLineDestination(join(dir, 'full.log'), (t) => warned.push(t));
    d.write('{"msg":"b"}\n');
    d.write('{"msg":"c"}\n');
    expect(warned).toEqual([
      expect.stringMatching(
        /^tfjs-ddp: E_DISK_FULL: no space left to write the log line to .*full\.log \(ENOSPC\).*; log lines that do not fit are dropped\n$/,
      ),
    ]);
  });

  it("drops a worker's log lines that do not fit, saying so once, instead of an unhandled error", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tfjs-ddp-full-'));
    symlinkSync('/dev/full', join(dir, 'worker-0.log'));
    const said = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      let workers: LocalWorkers | null = null;
      const code = await new Promise<number | null>((resolve) => {
        workers = new LocalWorkers(
          {
            count: 1,
            command: process.execPath,
            args: ['-e', "for (let i = 0; i < 50; i++) console.error('line ' + i)"],
            envFor: () => ({}),
            logDir: dir,
          },
          (e) => resolve(e.code),
        );
      });
      await workers!.stop();
      expect(code).toBe(0);
      const lines = said.mock.calls.map((c) => String(c[0])).filter((l) => l.includes('worker-0.log'));
      expect(lines).toEqual([
        expect.stringMatching(
          /^tfjs-ddp: E_DISK_FULL: no space left to write the log of worker .*worker-0\.log \(ENOSPC\).*; this worker's further log lines are dropped\n$/,
        ),
      ]);
    } finally {
      said.mockRestore();
    }
  });
});
