// `tfjs-ddp check`: a task tried in this one process before any run — its modules imported, the model
// built, the data loaded, one micro-batch taken and one training step computed — reporting what a
// user needs to see (the model summary, parameter counts, shapes, the step's loss and accuracy) or
// the first error, with what to do about it.
import * as tf from '@tensorflow/tfjs-core';
import { DdpError } from '@tfjs-ddp/core';
import { allFinite } from '../engine/worker-engine';
import { Trainer } from '../train/trainer';
import { openTask, type TaskWorkerSettings } from './open-task';
import { optimizerName } from './task-runtime';

export interface TaskCheck {
  modules: { model: string; modelSha256: string | null; data: string; dataSha256: string | null };
  summary: string[];
  trainableParams: number;
  nonTrainableParams: number;
  inputShape: (number | null)[];
  outputShape: (number | null)[];
  trainSize: number;
  testSize: number | null;
  batch: { samples: number; xs: { shape: number[]; dtype: string }; ys: { shape: number[]; dtype: string } };
  /** The step's loss per sample and share of correct top-1 predictions (0 for a non-classifier). */
  loss: number;
  acc: number;
  /** The module's own metrics (means over the micro-batch), by name. */
  metrics: Record<string, number>;
  optimizer: string;
  stepMs: number;
}

const count = (ws: { shape: (number | null)[] }[]) =>
  ws.reduce((n, w) => n + w.shape.reduce<number>((a, b) => a * (b ?? 1), 1), 0);

/**
 * Class ids (int32 labels, one per sample) must each name an output unit: tfjs' sparse
 * cross-entropy gives a label past the last unit a loss of 0, so such a batch would train silently.
 * @throws DdpError E_TASK naming the range found and the model's units
 */
function checkLabels(ys: tf.Tensor, outputShape: (number | null)[], n: number, data: string): void {
  const units = outputShape.at(-1) ?? null;
  const perSample = ys.rank === 1 || (ys.rank === 2 && ys.shape[1] === 1);
  if (ys.dtype !== 'int32' || !perSample || units === null || units < 2) return;
  let [lo, hi] = [Infinity, -Infinity];
  for (const id of ys.dataSync()) [lo, hi] = [Math.min(lo, id), Math.max(hi, id)];
  if (lo < 0 || hi >= units) {
    throw new DdpError(
      'E_TASK',
      `data module ${data}: the class ids of the first micro-batch (samples 0–${n - 1}) range over ${lo}–${hi}, but the model has ${units} output units (ids 0–${units - 1})`,
      'give the last layer one unit per class, or number the classes from 0',
    );
  }
}

/**
 * @throws DdpError E_TASK for the first problem: a module, the model, a batch, or a non-finite loss.
 */
export async function checkTask(
  settings: TaskWorkerSettings & { lr: number; momentum: number },
  microBatch: number,
  env: Record<string, string | undefined>,
): Promise<TaskCheck> {
  const task = await openTask(settings, 0, env);
  const model = task.model;
  const summary: string[] = [];
  model.summary(100, undefined, (line?: string) => summary.push(line ?? ''));
  const n = Math.min(microBatch, task.train.size);
  if (n === 0)
    throw new DdpError(
      'E_TASK',
      `data module ${task.modules.data}: the train split is empty`,
      'return a train split with samples from load(ctx)',
    );
  const { xs, ys } = await task.batch(
    task.train,
    Uint32Array.from({ length: n }, (_, i) => i),
  );
  const trainer = new Trainer(model, { lr: settings.lr, momentum: settings.momentum }, task, task.optimizer);
  try {
    const grad = trainer.newGradientBuffer();
    const t0 = performance.now();
    checkLabels(ys, model.outputs[0]?.shape ?? [], n, task.modules.data);
    const r = await trainer.accumulate({ x: xs, y: ys }, grad).catch((e: unknown) => {
      if (e instanceof DdpError) throw e;
      // Thrown by the model, the loss or tfjs on their tensors: the task's mistake, with its words.
      throw new DdpError(
        'E_TASK',
        `the first training step (samples 0–${n - 1}, xs ${JSON.stringify(xs.shape)}, ys ${JSON.stringify(ys.shape)}) failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`,
        "check the model's output against the labels and the loss: class ids (sparse) need one output unit per class, one-hot labels as many columns as the output has units",
        { cause: e },
      );
    });
    if (!Number.isFinite(r.lossSum) || !allFinite(grad)) {
      throw new DdpError(
        'E_TASK',
        `the first micro-batch (samples 0–${n - 1}) gives a ${Number.isFinite(r.lossSum) ? 'non-finite gradient' : `loss of ${r.lossSum}`}`,
        'check the data (NaN, infinities, labels out of range for the output) and the loss (log of 0: probabilities must be clipped)',
      );
    }
    trainer.apply(grad, r.count);
    const stepMs = performance.now() - t0;
    const optimizer = optimizerName(trainer.optimizer);
    return {
      modules: task.modules,
      summary,
      trainableParams: count(model.trainableWeights),
      nonTrainableParams: count(model.nonTrainableWeights),
      inputShape: model.inputs[0]?.shape ?? [],
      outputShape: model.outputs[0]?.shape ?? [],
      trainSize: task.train.size,
      testSize: task.test?.size ?? null,
      batch: {
        samples: n,
        xs: { shape: xs.shape, dtype: xs.dtype },
        ys: { shape: ys.shape, dtype: ys.dtype },
      },
      loss: r.lossSum / r.count,
      acc: r.correct / r.count,
      metrics: Object.fromEntries(task.metricNames.map((name, j) => [name, r.metrics[j]! / r.count])),
      optimizer,
      stepMs,
    };
  } finally {
    tf.dispose([xs, ys]);
    trainer.dispose();
    model.dispose();
  }
}
