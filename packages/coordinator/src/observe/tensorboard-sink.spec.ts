import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunDir } from '../run-dir';
import { encodeEvent, tfRecord } from './tfevents';
import { MetricScalars, TensorBoardSink } from './tensorboard-sink';

const timings = (allreduce: number[]) =>
  allreduce.map((allreduce_ms, rank) => ({
    rank,
    data_ms: 1,
    compute_ms: 2,
    allreduce_ms,
    apply_ms: 3,
    micro_batches: 1,
  }));
const plan = (micro: number[]) =>
  micro.map((micro_batch, rank) => ({ rank, capacity: 64, samples: 24, micro_batch, accumulation: 1 }));

describe('MetricScalars', () => {
  it('turns steps, epochs and plan changes into scalars on the global step axis', () => {
    const m = new MetricScalars(0.1);
    const rows = [
      { event: 'start', epochs: 2, batch_plan: plan([24, 24]) },
      {
        event: 'step',
        epoch: 1,
        step: 1,
        loss: 2.3,
        acc: 0.1,
        samples: 48,
        ms: 900,
        samples_per_s: 53.3,
        timings: timings([40, 55]),
      },
      { event: 'oom', step: 2, attempt: 1, rank: 1, old_micro_batch: 24, new_micro_batch: 12 },
      {
        event: 'step',
        epoch: 1,
        step: 2,
        loss: 2.1,
        acc: 0.2,
        samples: 48,
        ms: 950,
        samples_per_s: 50.5,
        timings: timings([61, 30]),
      },
      {
        event: 'epoch',
        epoch: 1,
        complete: true,
        train_loss: 2.2,
        train_acc: 0.15,
        test_loss: 2.0,
        test_acc: 0.25,
        samples_per_s: 52,
      },
      { event: 'membership', step: 2, kind: 'shrink', workers: 1, batch_plan: plan([12]) },
      { event: 'checkpoint', step: 2 },
    ].map((ev) => m.from(ev).map((s) => `${s.step} ${s.tag} ${s.value}`));
    expect(rows).toEqual([
      ['0 micro_batch/rank_0 24', '0 micro_batch/rank_1 24'],
      [
        '1 train/loss 2.3',
        '1 train/acc 0.1',
        '1 train/samples_per_s 53.3',
        '1 train/step_ms 900',
        '1 train/allreduce_ms 55',
        '1 train/lr 0.1',
      ],
      ['2 micro_batch/rank_1 12'],
      [
        '2 train/loss 2.1',
        '2 train/acc 0.2',
        '2 train/samples_per_s 50.5',
        '2 train/step_ms 950',
        '2 train/allreduce_ms 61',
        '2 train/lr 0.1',
      ],
      ['2 epoch/train_loss 2.2', '2 epoch/train_acc 0.15', '2 epoch/test_loss 2', '2 epoch/test_acc 0.25'],
      ['2 micro_batch/rank_0 12'], // rank 0 is now the survivor of the old rank 1
      [],
    ]);
  });

  it("charts a task's own metrics under their names, and a step's own learning rate", () => {
    const m = new MetricScalars(0.1);
    const step = { event: 'step', step: 3, loss: 1, acc: 0.5, metrics: { mae: 0.25, top3: 0.75 }, lr_factor: 0.5 };
    expect(m.from(step).map((s) => `${s.tag} ${s.value}`)).toEqual(['train/loss 1', 'train/acc 0.5', 'train/mae 0.25', 'train/top3 0.75', 'train/lr 0.05']);
    const epoch = { event: 'epoch', train_loss: 1, train_acc: 0.5, train_metrics: { mae: 0.3 }, test_loss: 2, test_acc: 0.4, test_metrics: { mae: 0.5 } };
    expect(m.from(epoch).map((s) => `${s.step} ${s.tag} ${s.value}`)).toEqual([
      '3 epoch/train_loss 1',
      '3 epoch/train_acc 0.5',
      '3 epoch/test_loss 2',
      '3 epoch/test_acc 0.4',
      '3 epoch/train_mae 0.3',
      '3 epoch/test_mae 0.5',
    ]);
  });

  it("puts a resumed run's first figures at the step it resumed from", () => {
    const m = new MetricScalars(0.05);
    expect(m.from({ event: 'resume', step: 40 })).toEqual([]);
    expect(m.from({ event: 'start', batch_plan: plan([16]) })).toEqual([
      { tag: 'micro_batch/rank_0', step: 40, value: 16 },
    ]);
    expect(
      m
        .from({ event: 'epoch', train_loss: 1, train_acc: 0.5, test_loss: null, test_acc: 0.5 })
        .map((s) => `${s.step} ${s.tag}`),
    ).toEqual(['40 epoch/train_loss', '40 epoch/train_acc', '40 epoch/test_acc']);
  });
});

describe('TensorBoardSink', () => {
  it("appends, through RunDir.metric, the records of exactly those scalars at the event's own time", () => {
    const run = new RunDir(join(mkdtempSync(join(tmpdir(), 'tfjs-ddp-tbs-')), 'r'));
    const sink = TensorBoardSink.open(run.file('tensorboard'), { lr: 0.1 });
    run.addSink(sink);
    run.metric({
      event: 'step',
      epoch: 1,
      step: 1,
      loss: 2.3,
      acc: 0.1,
      samples: 48,
      ms: 900,
      samples_per_s: 53.3,
      timings: timings([40]),
    });
    run.closeSinks();
    run.metric({ event: 'stopped', step: 1 }); // after closeSinks: metrics.jsonl only
    const time =
      Date.parse(
        (JSON.parse(readFileSync(run.file('metrics.jsonl'), 'utf8').split('\n')[0]!) as { time: string })
          .time,
      ) / 1000;
    expect(readdirSync(run.file('tensorboard'))).toEqual([sink.file.split('/').pop()]);
    expect(sink.file).toMatch(/\/events\.out\.tfevents\.\d+\.[^/]+\.\d+\.tfjs-ddp$/);
    const bytes = new Uint8Array(readFileSync(sink.file));
    const first = 16 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true)); // the file_version record
    const want = [
      ['train/loss', 2.3],
      ['train/acc', 0.1],
      ['train/samples_per_s', 53.3],
      ['train/step_ms', 900],
      ['train/allreduce_ms', 40],
      ['train/lr', 0.1],
    ] as const;
    // The encoder is checked against an independent decoder in tfevents.spec.ts.
    const records = want.map(([tag, value]) =>
      tfRecord(encodeEvent({ wallTime: time, step: 1, scalars: [{ tag, value }] })),
    );
    expect(bytes.subarray(first)).toEqual(Uint8Array.from(records.flatMap((r) => [...r])));
  });
});
