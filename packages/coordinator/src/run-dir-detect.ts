// Telling a run directory from any other directory by the content of the files tfjs-ddp writes
// there, never by their names alone: a web project's config.json is not a run. Used by `tfjs-ddp
// runs` and `report` (which never writes into a directory that is not a run), by RunDir for a
// --resume, and by the refusal of a --run-dir that holds something (run-dir-claim.ts).
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DdpError, fileKey, type TrainConfig } from '@tfjs-ddp/core';

/** The files whose content marks a run directory, as every run writes them. */
export const RUN_FILES = ['config.json', 'summary.json', 'metrics.jsonl'] as const;

/**
 * Settings every config.json tfjs-ddp has written holds (those of its first version; later ones add
 * more): a user's own config.json, even a --config file, rarely names them all.
 */
const CONFIG_KEYS: readonly (keyof TrainConfig)[] = [
  'preset',
  'lr',
  'momentum',
  'batchSize',
  'microBatch',
  'epochs',
  'resize',
  'pool',
  'seed',
  'backend',
  'workers',
  'dataDir',
  'verifyData',
  'runDir',
  'maxSteps',
  'logLevel',
];

/** How much of metrics.jsonl is read to find its first line (the start event of a large group). */
const FIRST_LINE_BYTES = 1 << 20;

/** Each of RUN_FILES in a directory: 'run' when tfjs-ddp wrote it, 'absent', or why it is not a run's. */
export type RunFileVerdict = 'run' | 'absent' | string;

/** What each of RUN_FILES in `dir` is (a missing or unreadable directory: all absent). */
export function runFileVerdicts(dir: string): Record<(typeof RUN_FILES)[number], RunFileVerdict> {
  return {
    'config.json': judge(join(dir, 'config.json'), configProblem),
    'summary.json': judge(join(dir, 'summary.json'), summaryProblem),
    'metrics.jsonl': judge(join(dir, 'metrics.jsonl'), metricsProblem),
  };
}

/** Whether `dir` holds at least one file as a tfjs-ddp run writes it (config.json, summary.json, metrics.jsonl). */
export function isRunDir(dir: string): boolean {
  return Object.values(runFileVerdicts(dir)).includes('run');
}

/**
 * The E_CONFIG for a directory that is not a run: names what it lacks, or why its files are not a run's.
 * @param lead how the message starts, e.g. `/x is not a run directory`
 */
export function notRunDirError(dir: string, lead: string, hint: string): DdpError {
  const verdicts = Object.entries(runFileVerdicts(dir)).filter(([, v]) => v !== 'absent');
  const why =
    verdicts.length === 0
      ? `it has none of ${RUN_FILES.join(', ')}`
      : `${verdicts.map(([f, v]) => `its ${f} ${v}`).join(', ')}`;
  return new DdpError('E_CONFIG', `${lead}: ${why}`, hint);
}

/**
 * Checks that `dir` is a run a resume can go on with: a directory holding a config.json tfjs-ddp wrote.
 * @param what how the caller names the directory (`--resume`, `resume`)
 * @throws DdpError E_CONFIG naming the directory and what it lacks, and what to pass instead
 */
export function requireRunConfig(dir: string, what: string): void {
  const path = resolve(dir);
  const hint = `pass the directory of the run to continue (runs/<timestamp>; tfjs-ddp runs lists them), or leave ${what} out to start a new run`;
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new DdpError(
      'E_CONFIG',
      `${what} ${path}: ${code === 'ENOENT' ? 'no such directory' : `cannot be read (${code})`}`,
      hint,
    );
  }
  if (!isDir) throw new DdpError('E_CONFIG', `${what} ${path} is a file, not a run directory`, hint);
  const config = runFileVerdicts(path)['config.json'];
  if (config === 'absent')
    throw new DdpError('E_CONFIG', `${what} ${path} is not a run directory: it has no config.json`, hint);
  if (config !== 'run')
    throw new DdpError('E_CONFIG', `${what} ${path} is not a run directory: its config.json ${config}`, hint);
}

function judge(file: string, problem: (text: string) => string | null): RunFileVerdict {
  let text: string;
  try {
    text = file.endsWith('.jsonl') ? firstLine(file) : readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? 'absent' : `cannot be read (${code ?? String(e)})`;
  }
  return problem(text) ?? 'run';
}

function configProblem(text: string): string | null {
  const v = parseObject(text);
  if (v === null) return 'is not a JSON object';
  const missing = CONFIG_KEYS.filter((k) => !(fileKey(k) in v) && !(k in v)).map(fileKey);
  if (missing.length === 0) return null;
  const shown = missing.slice(0, 3).join(', ') + (missing.length > 3 ? ', …' : '');
  return `lacks the settings a run's config.json holds (${shown})`;
}

function summaryProblem(text: string): string | null {
  const v = parseObject(text);
  if (v === null) return 'is not a JSON object';
  return typeof v['status'] === 'string' && typeof v['steps'] === 'number' ? null : 'has no status and steps';
}

function metricsProblem(line: string): string | null {
  const v = parseObject(line);
  return v !== null && typeof v['time'] === 'string' && typeof v['event'] === 'string'
    ? null
    : 'does not start with a line of {"time", "event", …}';
}

function parseObject(text: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The first line of `file` (at most FIRST_LINE_BYTES of it). */
function firstLine(file: string): string {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(Math.min(FIRST_LINE_BYTES, Math.max(statSync(file).size, 1)));
    const n = readSync(fd, buf, 0, buf.length, 0);
    const text = buf.subarray(0, n).toString('utf8');
    const end = text.indexOf('\n');
    return end === -1 ? text : text.slice(0, end);
  } finally {
    closeSync(fd);
  }
}
