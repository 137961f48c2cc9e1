import { describe, expect, it } from 'vitest';
import { LoopReporter } from './loop-reporter';
import { restart, worker } from './scripted-group';
import type { CoordinatorTrace, TrainEvent } from './train-events';

/** A reporter whose sinks write into one list, so that the order across sinks shows. */
function harness(withTrace = true) {
  const calls: [string, ...unknown[]][] = [];
  const rows: Record<string, unknown>[] = [];
  const events: TrainEvent[] = [];
  const trace: CoordinatorTrace = {
    begin: (name, args) => calls.push(['begin', name, args]),
    end: (args) => calls.push(['end', args]),
    mark: (name, args) => calls.push(['mark', name, args]),
  };
  const report = new LoopReporter(
    { metric: (r) => (rows.push(r), calls.push(['metric', r['event']])) },
    {
      info: (obj, msg) => calls.push(['info', msg, obj]),
      warn: (obj, msg) => calls.push(['warn', msg, obj]),
    },
    (e) => (events.push(e), calls.push(['emit', e.type])),
    withTrace ? trace : undefined,
  );
  return { report, calls, rows, events };
}

const step = {
  epoch: 2,
  step: 7,
  stepInEpoch: 3,
  stepsInEpoch: 4,
  samples: 64,
  epochSamples: 192,
  loss: 0.5,
  acc: 0.75,
  ms: 12.6,
  timings: [{ rank: 0, dataMs: 1, computeMs: 2, allreduceMs: 3, applyMs: 4, microBatches: 2 }],
};

describe('LoopReporter', () => {
  it('sends a restart to metrics.jsonl, the timeline, the log and the event stream, and returns its row', () => {
    const { report, calls, rows, events } = harness();
    const row = report.restart(5, 1, restart(1));
    const expected = {
      event: 'restart',
      step: 5,
      attempt: 1,
      rank: 1,
      old_pid: 101,
      new_pid: 201,
      host: 'h',
      cause: 'was killed by SIGKILL',
      last_lines: ['last'],
    };
    expect(row).toEqual(expected);
    expect(rows).toEqual([expected]);
    expect(calls).toEqual([
      ['metric', 'restart'],
      ['mark', 'restart', expected],
      ['warn', 'a worker was replaced', expected],
      ['emit', 'restart'],
    ]);
    expect(events).toEqual([
      { type: 'restart', step: 5, rank: 1, oldPid: 101, newPid: 201, cause: 'was killed by SIGKILL' },
    ]);
  });

  it("writes an applied step in snake_case to metrics.jsonl and in camelCase to the event stream, ending the step's phase", () => {
    const { report, calls, rows, events } = harness();
    report.stepBegins(7, 2);
    report.stepDone({ ...step, metrics: { mae: 0.25 }, lrFactor: 0.5 });
    expect(calls).toEqual([
      ['begin', 'step 7', { step: 7, epoch: 2 }],
      ['end', { samples: 64 }],
      ['emit', 'step'],
      ['metric', 'step'],
    ]);
    const samplesPerS = (64 * 1000) / 12.6;
    expect(events).toEqual([
      {
        type: 'step',
        epoch: 2,
        step: 7,
        stepInEpoch: 3,
        stepsInEpoch: 4,
        samples: 192,
        loss: 0.5,
        acc: 0.75,
        metrics: { mae: 0.25 },
        ms: 12.6,
        samplesPerS,
      },
    ]);
    expect(rows).toEqual([
      {
        event: 'step',
        epoch: 2,
        step: 7,
        loss: 0.5,
        acc: 0.75,
        metrics: { mae: 0.25 },
        lr_factor: 0.5,
        samples: 64,
        ms: 13,
        samples_per_s: samplesPerS,
        timings: [{ rank: 0, data_ms: 1, compute_ms: 2, allreduce_ms: 3, apply_ms: 4, micro_batches: 2 }],
      },
    ]);
    // metrics.jsonl's readers see the fields in this order (the step's figures, then its timings).
    expect(Object.keys(rows[0]!)).toEqual([
      'event',
      'epoch',
      'step',
      'loss',
      'acc',
      'metrics',
      'lr_factor',
      'samples',
      'ms',
      'samples_per_s',
      'timings',
    ]);
  });

  it('leaves metrics and lr_factor out of a step when the task has none and the rate is constant', () => {
    const { report, rows, events } = harness(false);
    report.stepDone({ ...step, metrics: undefined, lrFactor: undefined });
    expect(rows[0]).not.toHaveProperty('metrics');
    expect(rows[0]).not.toHaveProperty('lr_factor');
    expect(events[0]).not.toHaveProperty('metrics');
  });

  it("ends the step's phase with a skipped step, after its moment and before the log line", () => {
    const { report, calls, events } = harness();
    report.stepSkipped({ step: 7, epoch: 2, inARow: 2, skippedSteps: 3 });
    const row = {
      event: 'skipped',
      step: 7,
      epoch: 2,
      in_a_row: 2,
      skipped_steps: 3,
      reason: 'non-finite gradient',
    };
    expect(calls).toEqual([
      ['metric', 'skipped'],
      ['mark', 'skipped', row],
      ['end', { skipped: true }],
      ['warn', 'non-finite gradient: step skipped on every rank', row],
      ['emit', 'skipped'],
    ]);
    expect(events).toEqual([{ type: 'skipped', step: 7, inARow: 2 }]);
  });

  it('announces the start on the event stream first, then metrics.jsonl and the log, with no moment on the timeline', () => {
    const { report, calls, rows } = harness();
    const plan = [{ rank: 0, capacity: 32, samples: 32, micro_batch: 32, accumulation: 1 }];
    report.start({
      epochs: 3,
      stepsPerEpoch: 4,
      trainCount: 128,
      globalBatch: 32,
      plan,
      workers: [worker(0, 32)],
    });
    expect(calls.map((c) => c[0])).toEqual(['emit', 'metric', 'info']);
    expect(rows[0]).toMatchObject({
      event: 'start',
      epochs: 3,
      steps_per_epoch: 4,
      train_count: 128,
      global_batch: 32,
      batch_plan: plan,
      workers: [{ rank: 0, micro_batch: 32, train_count: 1000 }],
    });
    expect(calls[2]).toEqual([
      'info',
      'training starts',
      { epochs: 3, stepsPerEpoch: 4, globalBatch: 32, plan },
    ]);
  });

  it('reports an epoch to the event stream, metrics.jsonl (with its test count) and the log', () => {
    const { report, calls, rows, events } = harness();
    const e = {
      epoch: 1,
      complete: true,
      trainLoss: 0.4,
      trainAcc: 0.8,
      trainMetrics: undefined,
      testLoss: 0.5,
      testAcc: 0.7,
      testMetrics: { mae: 1 },
      testCount: 100,
      samplesPerS: 900,
      wallS: 3,
    };
    report.epoch(e);
    expect(calls.map((c) => c[0])).toEqual(['emit', 'metric', 'info']);
    expect(events).toEqual([
      {
        type: 'epoch',
        epoch: 1,
        trainLoss: 0.4,
        trainAcc: 0.8,
        testLoss: 0.5,
        testAcc: 0.7,
        testMetrics: { mae: 1 },
        samplesPerS: 900,
        wallS: 3,
      },
    ]);
    expect(rows).toEqual([
      {
        event: 'epoch',
        epoch: 1,
        complete: true,
        train_loss: 0.4,
        train_acc: 0.8,
        test_loss: 0.5,
        test_acc: 0.7,
        test_metrics: { mae: 1 },
        test_count: 100,
        samples_per_s: 900,
        wall_s: 3,
      },
    ]);
    expect(calls[2]).toEqual([
      'info',
      'epoch done',
      { epoch: 1, trainLoss: 0.4, trainAcc: 0.8, testAcc: 0.7, samplesPerS: 900 },
    ]);
  });

  it("ends the checkpoint's phase with the directory written", () => {
    const { report, calls } = harness();
    report.checkpoint({
      step: 8,
      epoch: 3,
      batchInEpoch: 0,
      reason: 'epoch',
      dir: '/r/checkpoints/step-8',
      ms: 40,
    });
    const row = {
      event: 'checkpoint',
      step: 8,
      epoch: 3,
      batch_in_epoch: 0,
      reason: 'epoch',
      dir: '/r/checkpoints/step-8',
      ms: 40,
    };
    expect(calls).toEqual([
      ['metric', 'checkpoint'],
      ['end', { dir: '/r/checkpoints/step-8' }],
      ['info', 'checkpoint written', row],
    ]);
  });

  it('says silent data corruption in metrics.jsonl, on the timeline and in the log, not on the event stream', () => {
    const { report, calls, events } = harness();
    report.sdc(9, { code: 'E_SDC', suspects: [1], message: 'rank 1 differs', hint: 'h' });
    expect(calls.map((c) => c[0])).toEqual(['metric', 'mark', 'warn']);
    expect(events).toEqual([]);
  });

  it('tells the event stream a run stopped before it writes the row and the log line', () => {
    const { report, calls } = harness();
    report.stopped('SIGINT', 4);
    expect(calls).toEqual([
      ['emit', 'stopped'],
      ['metric', 'stopped'],
      ['mark', 'stopped', { event: 'stopped', reason: 'SIGINT', step: 4 }],
      ['warn', 'training stopped', { reason: 'SIGINT', step: 4 }],
    ]);
  });

  it('runs a phase as a span that ends even when it throws, and just runs it without a timeline', async () => {
    const { report, calls } = harness();
    expect(await report.phase('evaluate', async () => 3, { epoch: 1 })).toBe(3);
    await expect(report.phase('save', () => Promise.reject(new Error('disk')))).rejects.toThrow('disk');
    expect(calls).toEqual([
      ['begin', 'evaluate', { epoch: 1 }],
      ['end', undefined],
      ['begin', 'save', undefined],
      ['end', undefined],
    ]);
    const bare = harness(false);
    expect(await bare.report.phase('evaluate', async () => 4)).toBe(4);
    bare.report.begin('plan');
    bare.report.end();
    expect(bare.calls).toEqual([]);
  });
});
