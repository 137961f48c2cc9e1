// RunDir: the files a run leaves behind, the contract other tools read (ARCHITECTURE.md):
// config.json (resolved config), metrics.jsonl (one JSON object per step/epoch/event, appended and
// flushed line by line so a killed run keeps every finished line), summary.json (final figures,
// written atomically), train.log (pino), and model/ + checkpoint/ written by rank 0. Sinks added with
// addSink (tensorboard/) get every metric event too.
import { appendFileSync, existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DdpError } from '@tfjs-ddp/core';

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

/** `runs/<UTC timestamp>` under `base`, e.g. runs/20261125-193012. */
export function defaultRunDir(base = 'runs', now = new Date()): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return join(base, t);
}

/** Another view of metrics.jsonl (the TensorBoard files): fed every event RunDir.metric writes. */
export interface MetricSink {
  write(event: Record<string, unknown>): void;
  close(): void;
}

export class RunDir {
  readonly path: string;
  private readonly sinks: MetricSink[] = [];

  /**
   * Creates (or reuses, if empty) the directory; with `resume`, opens an existing run to go on in it
   * (metrics.jsonl and train.log are appended to, summary.json is rewritten at the end).
   * @throws DdpError E_CONFIG when it already holds a run (never overwrite results), or with
   *   `resume` when it holds none.
   */
  constructor(path: string, opts: { resume?: boolean } = {}) {
    this.path = resolve(path);
    if (opts.resume === true) {
      if (!existsSync(join(this.path, 'config.json'))) throw new DdpError('E_CONFIG', `${this.path} has no config.json: it is not a run directory`, 'pass the directory of the run to continue (runs/<timestamp>)');
    } else if (existsSync(this.path) && readdirSync(this.path).some((f) => f === 'config.json' || f === 'metrics.jsonl')) {
      throw new DdpError('E_CONFIG', `run directory ${this.path} already holds a run`, 'pass another --run-dir, or leave it out for a new runs/<timestamp>');
    }
    mkdirSync(this.path, { recursive: true });
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
