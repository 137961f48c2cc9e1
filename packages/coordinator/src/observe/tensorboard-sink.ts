// The TensorBoard view of a run: turns the metric events of the train loop (the objects RunDir.metric
// writes to metrics.jsonl) into scalars (MetricScalars, pure) and appends them to an event file in
// <run-dir>/tensorboard/ (TensorBoardSink). Attached by the CLI's runTraining for every run.
import type { MetricSink } from '../run-dir';
import { TensorBoardWriter } from './tfevents';

/** One point of one TensorBoard chart. */
export interface Scalar {
  tag: string;
  step: number;
  value: number;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
const list = (v: unknown): Record<string, unknown>[] =>
  Array.isArray(v) ? (v as Record<string, unknown>[]) : [];
/** A task's own metrics ({ name: mean }): its numeric entries. */
const named = (v: unknown): [string, number][] =>
  v !== null && typeof v === 'object' && !Array.isArray(v)
    ? Object.entries(v as Record<string, unknown>).flatMap(([k, x]) => (typeof x === 'number' ? [[k, x] as [string, number]] : []))
    : [];

/**
 * Decides the scalars of each metric event. Epoch figures and plan changes go on the step axis at
 * the last global step seen (any event's `step`: a resume starts there); `lr` is the config's times
 * the step's schedule factor. A task's own metrics are charted under their names.
 */
export class MetricScalars {
  private step = 0;
  private readonly microBatch: (number | undefined)[] = [];

  constructor(private readonly lr: number) {}

  from(ev: Record<string, unknown>): Scalar[] {
    const out: Scalar[] = [];
    const put = (tag: string, value: number | undefined) => {
      if (value !== undefined) out.push({ tag, step: this.step, value });
    };
    const micro = (rank: number | undefined, value: number | undefined) => {
      if (rank === undefined || value === undefined || this.microBatch[rank] === value) return;
      this.microBatch[rank] = value;
      put(`micro_batch/rank_${rank}`, value);
    };
    this.step = num(ev['step']) ?? this.step;
    switch (ev['event']) {
      case 'step': {
        put('train/loss', num(ev['loss']));
        put('train/acc', num(ev['acc']));
        for (const [name, v] of named(ev['metrics'])) put(`train/${name}`, v);
        put('train/samples_per_s', num(ev['samples_per_s']));
        put('train/step_ms', num(ev['ms']));
        const allreduce = list(ev['timings']).map((t) => num(t['allreduce_ms']) ?? 0);
        if (allreduce.length > 0) put('train/allreduce_ms', Math.max(...allreduce));
        // --lr times the schedule's factor (a model compiled with its own optimizer scales that one's rate).
        put('train/lr', this.lr * (num(ev['lr_factor']) ?? 1));
        break;
      }
      case 'epoch':
        for (const k of ['train_loss', 'train_acc', 'test_loss', 'test_acc']) put(`epoch/${k}`, num(ev[k]));
        for (const split of ['train', 'test']) for (const [name, v] of named(ev[`${split}_metrics`])) put(`epoch/${split}_${name}`, v);
        break;
      case 'start':
      case 'membership': {
        const plan = list(ev['batch_plan']);
        this.microBatch.length = Math.min(this.microBatch.length, plan.length); // ranks lost: forget them
        for (const p of plan) micro(num(p['rank']), num(p['micro_batch']));
        break;
      }
      case 'oom':
        micro(num(ev['rank']), num(ev['new_micro_batch']));
        break;
    }
    return out;
  }
}

/** Writes a run's scalars to a new event file in `dir`; its `close` flushes and fsyncs it. */
export class TensorBoardSink implements MetricSink {
  private constructor(
    private readonly writer: TensorBoardWriter,
    private readonly scalars: MetricScalars,
  ) {}

  /** @throws the file system's error when `dir` cannot be written. */
  static open(dir: string, opts: { lr: number }): TensorBoardSink {
    return new TensorBoardSink(TensorBoardWriter.open(dir), new MetricScalars(opts.lr));
  }

  get file(): string {
    return this.writer.file;
  }

  write(event: Record<string, unknown>): void {
    // The event's own time (RunDir.metric stamps it), so both files agree.
    const t = typeof event['time'] === 'string' ? Date.parse(event['time']) / 1000 : NaN;
    const wallTime = Number.isFinite(t) ? t : Date.now() / 1000;
    for (const s of this.scalars.from(event)) this.writer.scalar(s.tag, s.step, s.value, wallTime);
  }

  close(): void {
    this.writer.close();
  }
}
