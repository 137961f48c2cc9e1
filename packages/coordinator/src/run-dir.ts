// RunDir: the files a run leaves behind, the contract other tools read (ARCHITECTURE.md):
// config.json (resolved config), metrics.jsonl (one JSON object per step/epoch/event, appended and
// flushed line by line so a killed run keeps every finished line), summary.json (final figures,
// written atomically), train.log (pino), and model/ + checkpoint/ written by rank 0. Sinks added with
// addSink (tensorboard/) get every metric event too. A new run's directory must be empty
// (run-dir-claim.ts); every run holds the directory's lock (run-lock.ts) while it writes.
import { appendFileSync, existsSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DdpError } from '@tfjs-ddp/core';
import { claimNewRunDir } from './run-dir-claim';
import { RunLock } from './run-lock';

export { defaultRunDir, makeDefaultRunDir } from './run-dir-claim';

/** The figures every summary.json carries (snake_case: read by other tools). */
export interface RunSummary {
  status: 'completed' | 'interrupted' | 'failed';
  backend: string;
  device: string;
  workers: number;
  trainable_params: number;
  global_batch: number;
  micro_batch_per_rank: number[];
  epochs: number;
  epochs_completed: number;
  steps: number;
  train_loss: number | null;
  train_acc: number | null;
  test_acc: number | null;
  samples_per_s: number | null;
  wall_s: number;
  restarts: number;
  oom_events: number;
  [extra: string]: unknown;
}

/** Another view of metrics.jsonl (the TensorBoard files): fed every event RunDir.metric writes. */
export interface MetricSink {
  write(event: Record<string, unknown>): void;
  close(): void;
}

/** How RunDir opens its directory. */
export interface RunDirOptions {
  /** Go on with the run already in the directory (it must hold config.json). */
  resume?: boolean;
  /** With `resume`: the step of the checkpoint the run goes on from (the worker logs' marker says it). */
  resumeStep?: number;
  /** A new run in a directory that holds anything: move that aside to `<dir>.old-<time>` instead of refusing. */
  overwrite?: boolean;
}

export class RunDir {
  readonly path: string;
  /** Set when the run goes on from a checkpoint of an earlier process (--resume). */
  readonly resumed: { step: number | null } | null;
  /** What opening the directory did that the user should hear (moved aside, a stale lock taken over). */
  readonly notes: string[] = [];
  private readonly sinks: MetricSink[] = [];
  private readonly lock: RunLock;

  /**
   * Opens the directory for a new run (created; an empty one is used as it is) or, with `resume`,
   * an existing run to go on in (metrics.jsonl, train.log and the worker logs are appended to,
   * summary.json is rewritten at the end), and takes its lock (.lock) until close().
   * @throws DdpError E_CONFIG when a new run's directory holds anything (never overwrite results:
   *   see RunDirOptions.overwrite), with `resume` when it holds no run, or when another live process
   *   holds its lock
   */
  constructor(path: string, opts: RunDirOptions = {}) {
    this.path = resolve(path);
    if (opts.resume === true) {
      if (!existsSync(join(this.path, 'config.json'))) throw new DdpError('E_CONFIG', `${this.path} has no config.json: it is not a run directory`, 'pass the directory of the run to continue (runs/<timestamp>)');
    } else {
      const aside = claimNewRunDir(this.path, { overwrite: opts.overwrite === true });
      if (aside !== null) this.notes.push(`--overwrite: moved what ${this.path} held to ${aside} (nothing deleted)`);
    }
    this.lock = RunLock.acquire(this.path, (line) => this.notes.push(line));
    this.resumed = opts.resume === true ? { step: opts.resumeStep ?? null } : null;
  }

  /** Releases the directory's lock (idempotent); the files stay readable. */
  close(): void {
    this.lock.release();
  }


  file(name: string): string {
    return join(this.path, name);
  }

  writeJson(name: string, value: unknown): void {
    const tmp = this.file(`.${name}.tmp`);
    writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
    renameSync(tmp, this.file(name));
  }

  /** Attaches a sink that gets every event metric() appends (with its `time`), until closeSinks(). */
  addSink(sink: MetricSink): void {
    this.sinks.push(sink);
  }

  /** Appends one event to metrics.jsonl (synchronously: a crash loses no finished line), then to each sink. */
  metric(event: Record<string, unknown>): void {
    const line = { time: new Date().toISOString(), ...event };
    appendFileSync(this.file('metrics.jsonl'), `${JSON.stringify(line)}\n`);
    for (const s of this.sinks) s.write(line);
  }

  /** Closes and detaches every sink (all of them, even after one throws), then throws the first error. */
  closeSinks(): void {
    const errors: unknown[] = [];
    for (const s of this.sinks.splice(0)) {
      try {
        s.close();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length > 0) throw errors[0];
  }

  writeSummary(summary: RunSummary): void {
    this.writeJson('summary.json', summary);
  }
}
