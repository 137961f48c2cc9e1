import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunDir, defaultRunDir } from './run-dir';

const tmp = () => mkdtempSync(join(tmpdir(), 'tfjs-ddp-run-'));

describe('RunDir', () => {
  it('names default run directories after the UTC time', () => {
    expect(defaultRunDir('runs', new Date('2026-11-25T19:30:12.345Z'))).toBe(join('runs', '20261125-193012'));
  });

  it('appends metrics as one JSON object per line and writes JSON files atomically', () => {
    const dir = new RunDir(join(tmp(), 'r'));
    dir.metric({ event: 'step', step: 1, loss: 2.3 });
    dir.metric({ event: 'epoch', epoch: 1 });
    const lines = readFileSync(dir.file('metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l['event'])).toEqual(['step', 'epoch']);
    expect(typeof lines[0]!['time']).toBe('string');
    dir.writeJson('config.json', { lr: 0.1 });
    expect(JSON.parse(readFileSync(dir.file('config.json'), 'utf8'))).toEqual({ lr: 0.1 });
    expect(readdirSync(dir.path).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses a directory that already holds a run, so no result is overwritten', () => {
    const path = join(tmp(), 'r');
    new RunDir(path).writeJson('config.json', {});
    expect(() => new RunDir(path)).toThrow(/E_CONFIG: run directory .* already holds a run/);
  });
});
