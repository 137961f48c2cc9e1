// Specs of writeReport and readRunFiles (write-report.ts) on temporary run directories.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    expect(() => readRunFiles(dir)).toThrow(/E_CONFIG: .* is not a run directory: it has none of config.json, summary.json, metrics.jsonl/);
    expect(() => readRunFiles(join(dir, 'nope'))).toThrow(/E_CONFIG: run directory .*nope does not exist/);
    mkdirSync(join(dir, 'model'));
    writeFileSync(join(dir, 'model', 'model.json'), '{}');
    writeFileSync(join(dir, 'summary.json'), '{"status":"failed","steps":0}');
    expect(readRunFiles(dir).present).toMatchObject({ 'model/model.json': true, 'train.log': false });
    expect(existsSync(join(dir, 'report.html'))).toBe(false);
  });

  it("refuses a directory whose config.json is someone else's, and leaves its report.html as it was", () => {
    const dir = tmp();
    writeFileSync(join(dir, 'config.json'), '{"name":"my webapp"}');
    writeFileSync(join(dir, 'report.html'), 'mine');
    expect(() => writeReport(dir)).toThrow(/E_CONFIG: .* is not a run directory: its config\.json lacks the settings a run's config\.json holds/);
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).toBe('mine');
  });

  it('never overwrites a report.html it did not write, even in a run directory; its own it rewrites', () => {
    const dir = tmp();
    const f = fixtureFiles();
    writeFileSync(join(dir, 'metrics.jsonl'), f.metrics!);
    writeFileSync(join(dir, 'report.html'), '<html><title>my notes</title></html>');
    const report = join(dir, 'report.html');
    expect(() => writeReport(dir)).toThrow(
      `E_CONFIG: ${report} exists and is not a report tfjs-ddp wrote; nothing is overwritten; move or rename it, then run tfjs-ddp report ${dir} again`,
    );
    expect(readFileSync(report, 'utf8')).toBe('<html><title>my notes</title></html>');
    expect(readdirSync(dir).sort()).toEqual(['metrics.jsonl', 'report.html']);
    rmSync(report);
    writeReport(dir, new Date('2026-01-01T00:00:00Z'));
    writeReport(dir, new Date('2026-01-02T00:00:00Z'));
    expect(readFileSync(report, 'utf8')).toContain('2026-01-02T00:00:00');
  });
});
