// Issue 12, "The report", through the real binary: a short 2-worker wasm run (with one injected OOM
// back-off, so there is a marker to draw) writes report.html; Debian's chromium opens it through
// playwright-core (no browser download) and every chart must have drawn the run's data points, with
// no console error and no request but the file itself. The screenshot is kept in test-artifacts/.
// Also: a run that fails before its first step still writes a report saying what is missing, and
// `tfjs-ddp report` rebuilds one from the files alone. Only the browser test needs /usr/bin/chromium.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { configToFile, DEFAULT_TRAIN_CONFIG } from '@tfjs-ddp/core';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { chromium } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { readJson, readJsonLines, repoRoot, runCli, tmp } from './support/spawn-cli';

const CHROMIUM = '/usr/bin/chromium';
const noBrowser = existsSync(CHROMIUM) ? null : `${CHROMIUM} is absent (apt-get install chromium; .ci/run installs it)`;
if (noBrowser !== null) process.stderr.write(`report.test.ts: skipping the browser test: ${noBrowser}\n`);

type Drawn = Record<string, { x: number; series: Record<string, number>; markers: number }>;

let data: string;
beforeAll(async () => {
  data = tmp('report-data');
  await writeSyntheticFashionMnist(data, { train: 64, test: 16, seed: 3 });
});

describe.skipIf(noBrowser !== null)('report.html of a real run, in chromium', () => {
  it('draws every chart with the run\'s points, logs no error and fetches nothing', async () => {
    const runDir = join(tmp('report'), 'r');
    // 64 samples, global batch 16: 4 steps in 1 epoch; rank 1 runs out of memory once at step 2.
    const args = ['train', '--data-dir', data, '--verify-data', 'false', '--workers', '2', '--backend', 'wasm', '--resize', '32', '--batch-size', '16', '--micro-batch', '8', '--epochs', '1', '--run-dir', runDir];
    const r = await runCli(args, { TFJS_DDP_INJECT_OOM: '1:2' });
    expect(r.code, r.stderr).toBe(0);
    const metrics = readJsonLines(join(runDir, 'metrics.jsonl'));
    const steps = metrics.filter((m) => m['event'] === 'step').length;
    const epochs = metrics.filter((m) => m['event'] === 'epoch').length;
    expect([steps, epochs, metrics.filter((m) => m['event'] === 'oom').length]).toEqual([4, 1, 1]);

    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('request', (q) => requests.push(q.url()));
      const url = pathToFileURL(join(runDir, 'report.html')).href;
      await page.goto(url);
      await page.waitForSelector('body[data-charts-drawn]', { timeout: 10_000 });
      const drawn = (await page.evaluate('window.reportCharts')) as Drawn;

      // One point per logged step on every per-step series, one per epoch on the per-epoch ones.
      expect(Object.keys(drawn)).toEqual(['loss', 'accuracy', 'throughput', 'rank-0', 'rank-1']);
      expect(drawn['loss']).toEqual({ x: steps, series: { 'train loss (step)': steps, 'train loss (epoch)': epochs, 'test loss (epoch)': epochs }, markers: 1 });
      expect(drawn['accuracy']!.series).toEqual({ 'train acc (step)': steps, 'train acc (epoch)': epochs, 'test acc (epoch)': epochs });
      expect(drawn['throughput']).toEqual({ x: steps, series: { 'samples/s': steps }, markers: 1 });
      for (const rank of ['rank-0', 'rank-1']) expect(Object.values(drawn[rank]!.series)).toEqual([steps, steps, steps, steps, steps]);
      // Each chart is a canvas uPlot painted (not an empty box).
      const painted = (await page.evaluate(`[...document.querySelectorAll('.chart canvas')].map((c) => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((v, i) => i % 4 === 3 && v > 0).length)`)) as number[];
      expect(painted).toHaveLength(5);
      for (const n of painted) expect(n).toBeGreaterThan(1000);
      expect(await page.textContent('.figures')).toContain('completed');

      expect(errors).toEqual([]);
      expect(requests).toEqual([url]);
      const shot = join(repoRoot, 'test-artifacts', 'report.png');
      mkdirSync(join(repoRoot, 'test-artifacts'), { recursive: true });
      await page.screenshot({ path: shot, fullPage: true });
      process.stdout.write(`report.test.ts: screenshot of ${url} in ${shot}\n`);
    } finally {
      await browser.close();
    }
  });
});

describe('report.html without a browser', () => {
  it('a run that fails before its first step still writes one, naming the error and what is missing', async () => {
    const runDir = join(tmp('report-failed'), 'r');
    const empty = tmp('no-data');
    const r = await runCli(['train', '--data-dir', empty, '--workers', '2', '--backend', 'wasm', '--resize', '32', '--run-dir', runDir]);
    expect(r.code).toBe(1);
    expect(readJson(join(runDir, 'summary.json'))['status']).toBe('failed');
    const html = readFileSync(join(runDir, 'report.html'), 'utf8');
    expect(html).toContain('<strong>The run failed:</strong> E_DATA');
    expect(html).toContain('metrics.jsonl');
    expect(html).toMatch(/no step events|metrics.jsonl is missing/);
  });

  it('tfjs-ddp report rebuilds it from the files alone, and refuses a directory that holds no run', async () => {
    const runDir = tmp('report-partial');
    writeFileSync(join(runDir, 'config.json'), JSON.stringify(configToFile({ ...DEFAULT_TRAIN_CONFIG, epochs: 1 })));
    const r = await runCli(['report', runDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`wrote ${join(runDir, 'report.html')}\n`);
    expect(r.stderr).toContain('tfjs-ddp: metrics.jsonl is missing');
    expect(r.stderr).toContain('tfjs-ddp: summary.json is missing');
    expect(readFileSync(join(runDir, 'report.html'), 'utf8')).toContain('<li>metrics.jsonl is missing: no steps, epochs or events to show</li>');
    rmSync(join(runDir, 'config.json'));
    rmSync(join(runDir, 'report.html'));
    const none = await runCli(['report', runDir]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('is not a run directory');
  });

  it("tfjs-ddp report leaves a project folder alone: its config.json is not a run's, its report.html stays", async () => {
    const project = tmp('report-project');
    writeFileSync(join(project, 'config.json'), '{"name":"my webapp"}\n');
    writeFileSync(join(project, 'report.html'), 'mine\n');
    const r = await runCli(['report', project]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`E_CONFIG: ${project} is not a run directory: its config.json lacks the settings a run's config.json holds`);
    expect(readFileSync(join(project, 'report.html'), 'utf8')).toBe('mine\n');
    const runs = await runCli(['runs', project, '--json']);
    expect(runs.code).toBe(0);
    expect(JSON.parse(runs.stdout)).toEqual([]);
  });
});
