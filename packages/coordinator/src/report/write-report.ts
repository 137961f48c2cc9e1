// Writes <run-dir>/report.html from the run directory's files alone (ARCHITECTURE.md: observability
// reads the run directory). Called by `tfjs-ddp train` at the end of every run, also a failed one,
// and by `tfjs-ddp report RUN_DIR`. The I/O edge of report-data.ts and render-html.ts.
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { DdpError, writeWhole } from '@tfjs-ddp/core';
import { notRunDirError, isRunDir } from '../run-dir-detect';
import { renderReportHtml, type ReportAssets } from './render-html';
import { reportData, type ReportData, type RunFiles } from './report-data';

export const REPORT_FILE = 'report.html';

/** How every report.html tfjs-ddp has written begins its title: the mark of a report it may replace. */
const REPORT_MARK = '<title>tfjs-ddp report:';

/** Other files of a run the report lists as present or missing. */
const OTHER_FILES = ['train.log', 'worker-0.log', 'model/model.json', 'tensorboard', 'checkpoints'];

let assets: ReportAssets | null = null;

/** uPlot's browser build and stylesheet (the npm package `uplot`), read once. */
export function uplotAssets(): ReportAssets {
  if (assets === null) {
    const require = createRequire(import.meta.url);
    const read = (f: string) => readFileSync(require.resolve(`uplot/dist/${f}`), 'utf8');
    assets = { uplotJs: read('uPlot.iife.min.js'), uplotCss: read('uPlot.min.css') };
  }
  return assets;
}

/**
 * The texts of a run directory's files (null where one is absent).
 * @throws DdpError E_CONFIG when `dir` is not a directory or holds none of config.json,
 *   metrics.jsonl and summary.json as a run writes them (run-dir-detect.ts)
 */
export function readRunFiles(dir: string): RunFiles {
  const path = resolve(dir);
  if (!existsSync(path) || !statSync(path).isDirectory()) throw new DdpError('E_CONFIG', `run directory ${path} does not exist or is not a directory`, 'pass the directory of a run (runs/<timestamp>; tfjs-ddp runs lists them)');
  if (!isRunDir(path)) throw notRunDirError(path, `${path} is not a run directory`, 'pass the directory of a run (runs/<timestamp>; tfjs-ddp runs lists them)');
  const text = (name: string) => (existsSync(join(path, name)) ? readFileSync(join(path, name), 'utf8') : null);
  const files: RunFiles = { path, config: text('config.json'), metrics: text('metrics.jsonl'), summary: text('summary.json'), present: {} };
  for (const f of OTHER_FILES) files.present[f] = existsSync(join(path, f));
  return files;
}

/**
 * Writes `dir`/report.html (to a temporary name, then renamed: a reader never sees half a report).
 * @returns the file's path and the model it shows
 * @throws DdpError E_CONFIG from readRunFiles, or when a report.html is there that tfjs-ddp did not
 *   write (it is left as it is); E_DISK_FULL naming the file (nothing half-written is left); the file
 *   system's other errors when it cannot be written
 */
export function writeReport(dir: string, now = new Date()): { file: string; data: ReportData } {
  const data = reportData(readRunFiles(dir));
  const file = join(data.path, REPORT_FILE);
  if (existsSync(file) && !isOwnReport(file)) {
    throw new DdpError(
      'E_CONFIG',
      `${file} exists and is not a report tfjs-ddp wrote; nothing is overwritten`,
      `move or rename it, then run tfjs-ddp report ${data.path} again`,
    );
  }
  const tmp = join(data.path, `.${REPORT_FILE}.tmp`);
  writeWhole(file, renderReportHtml(data, uplotAssets(), now), tmp);
  return { file, data };
}

/** Whether `file` begins as every report.html tfjs-ddp writes does (REPORT_MARK in its first KiB). */
function isOwnReport(file: string): boolean {
  let fd: number | null = null;
  try {
    fd = openSync(file, 'r');
    const buf = Buffer.alloc(1024);
    return buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('utf8').includes(REPORT_MARK);
  } catch {
    return false; // unreadable, or a directory: not one to replace
  } finally {
    if (fd !== null) closeSync(fd);
  }
}
