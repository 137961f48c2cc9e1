// `tfjs-ddp runs [DIR]`: one line per run directory under DIR (default runs): its status, steps,
// test accuracy, wall time, workers, backend and newest checkpoint, read from the files a run leaves
// (RunDir in @tfjs-ddp/coordinator: config.json, summary.json, metrics.jsonl, train.log,
// checkpoints/); a directory is a run only when those files are as tfjs-ddp writes them
// (run-dir-detect.ts), not because of their names. Reads only; `--json` gives the same rows with
// snake_case keys, like summary.json.
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { DdpError, MANIFEST_FILE } from '@tfjs-ddp/core';
import { CheckpointStore, isRunDir } from '@tfjs-ddp/coordinator';
import { defineCommand } from '../command';

/** A run without summary.json whose files changed this recently is taken to be running. */
const ACTIVE_MS = 60_000;

/** One run as `runs --json` prints it. */
export interface RunRow {
  name: string;
  path: string;
  /**
   * summary.json's status; for a run without one (or with one older than config.json: resumed since),
   * running when its coordinator's pid (from train.log) is alive here or its files changed in the
   * last minute, else killed; unreadable when summary.json is not JSON.
   */
  status: 'completed' | 'interrupted' | 'failed' | 'running' | 'killed' | 'unreadable' | (string & {});
  steps: number | null;
  test_acc: number | null;
  wall_s: number | null;
  workers: number | null;
  backend: string | null;
  /** Step of the newest checkpoint with a manifest (not verified: `train --resume` does that). */
  checkpoint_step: number | null;
}

export const runsCommand = defineCommand({
  name: 'runs',
  summary: 'List the runs in a directory: status, steps, test accuracy, checkpoints',
  description: [
    'Lists the run directories under DIR (default runs), oldest first: status (completed, interrupted or',
    'failed from summary.json; running or killed for a run without a final summary, by whether its',
    "coordinator's pid in train.log is alive on this host or its files changed in the last minute),",
    'steps, test accuracy, wall time in seconds, workers, backend and the step of the newest checkpoint.',
    'DIR may also be one run directory. A directory counts as a run when its config.json, summary.json',
    'or metrics.jsonl is one tfjs-ddp writes. Reads only; --json prints the rows as a JSON array.',
  ].join('\n'),
  options: {
    dir: {
      type: 'string',
      valueName: 'DIR',
      positional: true,
      description: 'directory holding run directories, or one run directory',
      default: 'runs',
    },
    json: { type: 'boolean', description: 'Print a JSON array (snake_case keys, as in summary.json)' },
  },
  async run(values, io) {
    // Before the first training there is no runs/ yet: that is no runs, not an error.
    const rows = values.dir === 'runs' && !existsSync(resolve(values.dir)) ? [] : listRuns(values.dir);
    if (values.json) {
      io.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return 0;
    }
    if (rows.length === 0) io.stderr.write(`tfjs-ddp: no runs in ${resolve(values.dir)}\n`);
    else io.stdout.write(formatRuns(rows));
    return 0;
  },
});

/**
 * The runs under `dir` sorted by name (runs/<UTC timestamp> sorts by time), or `dir` itself when it
 * is a run directory (isRunDir: by the content of its config.json, summary.json or metrics.jsonl).
 * @throws DdpError E_CONFIG naming `dir` when it does not exist, is not a directory or cannot be read
 */
export function listRuns(dir: string, now = Date.now()): RunRow[] {
  const path = resolve(dir);
  const hint = 'pass the directory that holds the runs (train writes runs/<timestamp> by default, --run-dir elsewhere)';
  let names: string[];
  try {
    if (!statSync(path).isDirectory()) throw new DdpError('E_CONFIG', `${path} is not a directory`, hint);
    if (isRunDir(path)) return [readRun(path, now)];
    names = readdirSync(path);
  } catch (e) {
    if (e instanceof DdpError) throw e;
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`;
    throw new DdpError('E_CONFIG', `runs directory ${path} ${why}`, hint);
  }
  return names
    .sort()
    .map((n) => join(path, n))
    .filter((p) => isRunDir(p))
    .map((p) => readRun(p, now));
}

function readRun(path: string, now: number): RunRow {
  const row: RunRow = { name: basename(path), path, status: 'killed', steps: null, test_acc: null, wall_s: null, workers: null, backend: null, checkpoint_step: newestCheckpoint(path) };
  const summaryFile = join(path, 'summary.json');
  // A resume rewrites config.json at its start and summary.json at its end.
  if (existsSync(summaryFile) && mtime(summaryFile) >= mtime(join(path, 'config.json'))) {
    const s = readJson(summaryFile);
    if (s === null) return { ...row, status: 'unreadable' };
    return {
      ...row,
      status: typeof s['status'] === 'string' ? s['status'] : 'unreadable',
      steps: num(s['steps']),
      test_acc: num(s['test_acc']),
      wall_s: num(s['wall_s']),
      workers: num(s['workers']),
      backend: typeof s['backend'] === 'string' ? s['backend'] : null,
    };
  }
  const config = readJson(join(path, 'config.json')) ?? {};
  const progress = readProgress(join(path, 'metrics.jsonl'));
  const pid = coordinatorPid(join(path, 'train.log'));
  const recent = ['config.json', 'metrics.jsonl', 'train.log'].some((f) => now - mtime(join(path, f)) < ACTIVE_MS);
  return {
    ...row,
    status: (pid !== null && alive(pid)) || recent ? 'running' : 'killed',
    ...progress,
    workers: progress.workers ?? num(config['workers']),
    backend: progress.backend ?? (typeof config['backend'] === 'string' ? config['backend'] : null),
  };
}

/** What metrics.jsonl says of a run that has not written its summary. */
function readProgress(file: string): Pick<RunRow, 'steps' | 'test_acc' | 'wall_s' | 'workers' | 'backend'> {
  const out: ReturnType<typeof readProgress> = { steps: null, test_acc: null, wall_s: null, workers: null, backend: null };
  let started: number | null = null;
  let lastTime: number | null = null;
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  for (const line of text.split('\n')) {
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue; // blank, or the half line of a killed writer
    }
    const time = typeof e['time'] === 'string' ? Date.parse(e['time']) : NaN;
    if (!Number.isNaN(time)) lastTime = time;
    if (typeof e['step'] === 'number') out.steps = e['step'];
    if (e['event'] === 'epoch') out.test_acc = num(e['test_acc']);
    if (e['event'] === 'start') {
      // The process that writes now started here (a resume appends a new start).
      started = Number.isNaN(time) ? null : time;
      const ws = Array.isArray(e['workers']) ? (e['workers'] as { backend?: unknown }[]) : [];
      out.workers = ws.length > 0 ? ws.length : out.workers;
      out.backend = typeof ws[0]?.backend === 'string' ? ws[0].backend : out.backend;
    }
    if (e['event'] === 'membership') out.workers = num(e['workers']) ?? out.workers;
  }
  out.wall_s = started !== null && lastTime !== null ? (lastTime - started) / 1000 : null;
  return out;
}

function newestCheckpoint(path: string): number | null {
  const store = new CheckpointStore(path);
  const name = store.names().find((n) => existsSync(join(store.root, n, MANIFEST_FILE)));
  return name === undefined ? null : Number(name.slice('step-'.length));
}

/** The pid on train.log's last line (pino writes it on every line), or null. */
function coordinatorPid(file: string): number | null {
  if (!existsSync(file)) return null;
  const fd = openSync(file, 'r');
  try {
    const size = statSync(file).size;
    const buf = Buffer.alloc(Math.min(size, 64 * 1024));
    readSync(fd, buf, 0, buf.length, size - buf.length);
    for (const line of buf.toString('utf8').split('\n').reverse()) {
      try {
        const pid = (JSON.parse(line) as { pid?: unknown }).pid;
        if (typeof pid === 'number') return pid;
      } catch {
        // not a whole JSON line
      }
    }
    return null;
  } finally {
    closeSync(fd);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, owned by another user
  }
}

function mtime(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return -Infinity;
  }
}

function readJson(file: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** The text table: a header and one line per run, columns aligned, '-' where a value is unknown. */
export function formatRuns(rows: readonly RunRow[]): string {
  const dash = (v: number | string | null, f: (x: number) => string = String) => (v === null ? '-' : typeof v === 'number' ? f(v) : v);
  const table = [
    ['RUN', 'STATUS', 'STEPS', 'TEST_ACC', 'WALL_S', 'WORKERS', 'BACKEND', 'CHECKPOINT'],
    ...rows.map((r) => [r.name, r.status, dash(r.steps), dash(r.test_acc, (x) => x.toFixed(4)), dash(r.wall_s, (x) => x.toFixed(1)), dash(r.workers), dash(r.backend), dash(r.checkpoint_step)]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((cells) => cells[i]!.length)));
  // Text columns left-aligned, numbers right-aligned.
  const right = [false, false, true, true, true, true, false, true];
  return table.map((cells) => cells.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}
