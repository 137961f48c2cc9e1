// Specs of writeReport and readRunFiles (write-report.ts) on temporary run directories.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureFiles } from './fixture';
import { readRunFiles, uplotAssets, writeReport } from './write-report';

const tmp = () => mkdtempSync(join(tmpdir(), 'tfjs-ddp-report-'));

describe('writeReport', () => {
  it('writes report.html with uPlot inlined and leaves no temporary file', () => {
    const dir = tmp();
    const f = fixtureFiles();
    writeFileSync(join(dir, 'config.json'), f.config!);
    writeFileSync(join(dir, 'metrics.jsonl'), f.metrics!);
    const { file, data } = writeReport(dir);
    expect(file).toBe(join(dir, 'report.html'));
    expect(readdirSync(dir).sort()).toEqual(['config.json', 'metrics.jsonl', 'report.html']);
    const html = readFileSync(file, 'utf8');
    expect(html).toContain(uplotAssets().uplotJs.slice(0, 200));
    expect(html.length).toBeGreaterThan(50_000);
    expect(html).not.toMatch(/\s(src|href)=|url\(|<link|@import/i); // nothing to fetch
    expect(data.files.find((x) => x.name === 'summary.json')).toEqual({ name: 'summary.json', present: false });
  });

  it('refuses a directory that is not a run directory, or none at all', () => {
    const dir = tmp();
    expect(() => readRunFiles(dir)).toThrow(/E_CONFIG: .* is not a run directory: it has no config.json, metrics.jsonl or summary.json/);
    expect(() => readRunFiles(join(dir, 'nope'))).toThrow(/E_CONFIG: run directory .*nope does not exist/);
    mkdirSync(join(dir, 'model'));
    writeFileSync(join(dir, 'model', 'model.json'), '{}');
    writeFileSync(join(dir, 'summary.json'), '{}');
    expect(readRunFiles(dir).present).toMatchObject({ 'model/model.json': true, 'train.log': false });
    expect(existsSync(join(dir, 'report.html'))).toBe(false);
  });
});
