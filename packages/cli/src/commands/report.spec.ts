// Specs of `tfjs-ddp report RUN_DIR` (report.ts) on directories that are not runs: nothing of the
// user's is overwritten.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../test-io';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tfjs-ddp-report-cmd-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('tfjs-ddp report', () => {
  it('refuses a project folder with its own config.json and report.html, leaving both as they were', async () => {
    writeFileSync(join(dir, 'config.json'), '{"name":"my webapp"}\n');
    writeFileSync(join(dir, 'report.html'), 'mine\n');
    const r = await run(['report', dir]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `tfjs-ddp: E_CONFIG: ${dir} is not a run directory: its config.json lacks the settings a run's config.json holds (preset, lr, momentum, …); pass the directory of a run (runs/<timestamp>; tfjs-ddp runs lists them)\n`,
    );
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).toBe('mine\n');
    expect(readdirSync(dir).sort()).toEqual(['config.json', 'report.html']);
  });

  it('refuses to replace a report.html that tfjs-ddp did not write in a run directory', async () => {
    const line = { time: '2026-11-25T19:30:12.000Z', event: 'start', epochs: 1, workers: [] };
    writeFileSync(join(dir, 'metrics.jsonl'), `${JSON.stringify(line)}\n`);
    writeFileSync(join(dir, 'report.html'), 'mine\n');
    const r = await run(['report', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `E_CONFIG: ${join(dir, 'report.html')} exists and is not a report tfjs-ddp wrote; nothing is overwritten; move or rename it`,
    );
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).toBe('mine\n');
  });
});
