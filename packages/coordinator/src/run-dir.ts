// RunDir: the files a run leaves behind, the contract other tools read (ARCHITECTURE.md):
// config.json (resolved config), metrics.jsonl (one JSON object per step/epoch/event, appended and
// flushed line by line so a killed run keeps every finished line), summary.json (final figures,
// written atomically), train.log (pino), and model/ + checkpoint/ written by rank 0. Sinks added with
// addSink (tensorboard/) get every metric event too. A new run's directory must be empty
// (run-dir-claim.ts); every run holds the directory's lock (run-lock.ts) while it writes.
import { join, resolve } from 'node:path';
import { appendWhole, diskFullError, DiskReserve, isDdpError, isDiskFull, writeWhole } from '@tfjs-ddp/core';
import { claimNewRunDir } from './run-dir-claim';
import { requireRunConfig } from './run-dir-detect';
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

/** The space a run keeps for its summary while it runs (given back at the end, or at a full disk). */
export const DISK_RESERVE_FILE = '.disk-reserve';

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
  /** Room kept for the summary of a run that fills its disk (core fs/disk-full.ts). */
  private reserveFile: DiskReserve | null = null;
  private readonly lock: RunLock;

  /**
   * Opens the directory for a new run (created; an empty one is used as it is) or, with `resume`,
   * an existing run to go on in (metrics.jsonl, train.log and the worker logs are appended to,
   * summary.json is rewritten at the end), and takes its lock (.lock) until close().
   * @throws DdpError E_CONFIG when a new run's directory holds anything (never overwrite results:
   *   see RunDirOptions.overwrite) or cannot be created, with `resume` when it holds no run (no
   *   config.json that tfjs-ddp wrote), or when another live process holds its lock
   */
  constructor(path: string, opts: RunDirOptions = {}) {
    this.path = resolve(path);
    if (opts.resume === true) {
      requireRunConfig(this.path, '--resume');
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

  private get reserve(): DiskReserve {
    return (this.reserveFile ??= new DiskReserve(this.file(DISK_RESERVE_FILE)));
  }

  file(name: string): string {
    return join(this.path, name);
  }

  /**
   * Writes a JSON document through a temporary name. On a full disk the run's reserve is given back
   * and the write tried once more, so a failed run still leaves its summary.json.
   * @throws DdpError E_DISK_FULL naming the file when even that does not fit
   */
  writeJson(name: string, value: unknown): void {
    const write = () => writeWhole(this.file(name), `${JSON.stringify(value, null, 2)}\n`, this.file(`.${name}.tmp`));
    try {
      write();
    } catch (e) {
      if (!isDdpError(e, 'E_DISK_FULL') || !this.reserve.release()) throw e;
      write();
    }
  }

  /** Attaches a sink that gets every event metric() appends (with its `time`), until closeSinks(). */
  addSink(sink: MetricSink): void {
    this.sinks.push(sink);
  }

  /** Appends one event to metrics.jsonl (synchronously: a crash loses no finished line), then to each sink. */
  metric(event: Record<string, unknown>): void {
    this.reserve.hold();
    const line = { time: new Date().toISOString(), ...event };
    try {
      // Whole lines only: a failed append is truncated back (E_DISK_FULL naming metrics.jsonl).
      appendWhole(this.file('metrics.jsonl'), `${JSON.stringify(line)}\n`);
      for (const s of this.sinks) {
        try {
          s.write(line);
        } catch (e) {
          throw isDiskFull(e) ? diskFullError(e, (s as { file?: string }).file ?? this.file('tensorboard'), 'the metrics to') : e;
        }
      }
    } catch (e) {
      if (isDdpError(e, 'E_DISK_FULL')) this.reserve.release(); // room for the summary and the last log lines
      throw e;
    }
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
    this.reserve.release();
  }
}
