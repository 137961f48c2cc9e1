// A task made ready to train on this process's backend: the user's model built, its data loaded,
// the summed loss and the count of correct predictions that every step and evaluation uses, and
// each batch checked against the model before it is computed. Built by the engine's factory in
// every worker process and by the memory probe child.
import { hostname } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { DdpError } from '@tfjs-ddp/core';
import { COMPILED_LOSS_NAMES, compiledLoss, type PerSampleLoss } from './compiled-loss';
import { loadDataModule, loadModelModule, type LoadedModule, type TaskModules } from './load-task';
import type { DataModule, DataSplit, Example, ModelModule, TaskContext, Tfjs } from './task-contract';

export interface Task {
  model: tfl.LayersModel;
  train: DataSplit;
  test: DataSplit | null;
  /** Where each module came from and its SHA-256 (null for a built-in). */
  modules: { model: string; modelSha256: string | null; data: string; dataSha256: string | null };
  /**
   * The optimizer `model.compile()` was given (its own learning rate and slots); null when the model
   * was not compiled with one: then SGD with --lr and --momentum.
   */
  optimizer: tf.Optimizer | null;
  /** The loss summed over the batch (a scalar). */
  lossSum(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar;
  /** Top-1 correct predictions (a scalar); zero for a model that does not classify. */
  correct(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar;
  /** The model module's own metrics (`metrics`), by name: reported as means, carried as sums. */
  metricNames: readonly string[];
  /** Each of them summed over the batch, in `metricNames` order. */
  metricSums(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar[];
  /** A split's batch for these indices, checked: @throws DdpError E_TASK naming the module and indices. */
  batch(split: DataSplit, indices: Uint32Array): Promise<Example>;
}

/**
 * Imports the task's modules, builds the model and loads the data.
 * @throws DdpError E_TASK when a module is missing or malformed, `create` or `load` throws, or the
 *   model has no loss (not compiled, and none given by the module).
 */
export async function instantiateTask(mods: TaskModules, ctx: TaskContext): Promise<Task> {
  const [m, d] = await Promise.all([loadModelModule(mods.model), loadDataModule(mods.data)]);
  return buildTask(m, d, ctx);
}

/** The same from modules already imported (in-process tests give objects). */
export async function buildTask(
  m: LoadedModule<ModelModule>,
  d: LoadedModule<DataModule>,
  ctx: TaskContext,
): Promise<Task> {
  const where = `on rank ${ctx.rank} (${hostname()})`;
  const model = await userCall(
    () => m.module.create(ctx),
    `model module ${m.where}: create(ctx) threw ${where}`,
  );
  if (
    model === null ||
    typeof model !== 'object' ||
    typeof (model as tfl.LayersModel).apply !== 'function' ||
    !Array.isArray((model as tfl.LayersModel).trainableWeights)
  ) {
    throw new DdpError(
      'E_TASK',
      `model module ${m.where}: create(ctx) returned ${describe(model)}, not a tf.LayersModel`,
      'return the model built with tf.sequential() or tf.model()',
    );
  }
  const perSample: PerSampleLoss | null =
    m.module.loss?.bind(m.module) ?? compiledLoss((model as { loss?: unknown }).loss);
  if (perSample === null) {
    throw new DdpError(
      'E_TASK',
      `model module ${m.where}: the model has no loss tfjs-ddp can use (${compiledWith((model as { loss?: unknown }).loss)})`,
      `call model.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy' }) (or ${COMPILED_LOSS_NAMES.filter((n) => n !== 'sparseCategoricalCrossentropy').join(', ')}, or a function), or give loss(yTrue, yPred) in the module`,
    );
  }
  const metrics = checkedMetrics(m.module.metrics, m.where);
  const optimizer =
    m.module.optimizer === undefined
      ? ((model as { optimizer?: tf.Optimizer }).optimizer ?? null)
      : await userCall(() => checkedOptimizer(m.module.optimizer!.call(m.module, ctx), m.where), `model module ${m.where}: optimizer(ctx) threw ${where}`);
  const data = await userCall(() => d.module.load(ctx), `data module ${d.where}: load(ctx) threw ${where}`);
  for (const [name, split] of [
    ['train', data?.train],
    ['test', data?.test ?? null],
  ] as const) {
    if (name === 'test' && split === null) continue;
    if (
      split === undefined ||
      split === null ||
      typeof split.batch !== 'function' ||
      !Number.isInteger(split.size) ||
      split.size < 0
    ) {
      throw new DdpError(
        'E_TASK',
        `data module ${d.where}: load(ctx) returned no valid ${name} split (${describe(split)})`,
        `return { ${name}: { size, batch(indices) { return { xs, ys }; } } }`,
      );
    }
  }
  const inputShape = model.inputs[0]?.shape ?? null;
  return {
    model,
    train: data.train,
    test: data.test ?? null,
    modules: { model: m.where, modelSha256: m.sha256, data: d.where, dataSha256: d.sha256 },
    optimizer,
    lossSum: (yTrue, yPred) => tf.tidy(() => tf.sum(checkedLoss(perSample(yTrue, yPred), yPred, m.where))),
    correct: (yTrue, yPred) => tf.tidy(() => correctCount(yTrue, yPred)),
    metricNames: metrics.map(([name]) => name),
    metricSums: (yTrue, yPred) =>
      metrics.map(([name, f]) => tf.tidy(() => tf.sum(checkedLoss(f(yTrue, yPred, ctx.tf), yPred, m.where, `metrics.${name}`)))),
    async batch(split, indices) {
      const b = await userCall(
        () => split.batch(indices),
        `data module ${d.where}: batch(indices) threw ${where} for samples ${sampleList(indices)}`,
      );
      checkBatch(
        b,
        indices,
        inputShape,
        `data module ${d.where}: batch() ${where} for samples ${sampleList(indices)}`,
      );
      return b;
    },
  };
}

async function userCall<T>(f: () => T | Promise<T>, what: string): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof DdpError) throw e;
    throw new DdpError(
      'E_TASK',
      `${what}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`,
      'its stack trace is in the log: worker-N.log of rank N in the run directory (train.log with --workers 1)',
      { cause: e },
    );
  }
}

function checkBatch(
  b: Example,
  indices: Uint32Array,
  inputShape: (number | null)[] | null,
  what: string,
): void {
  if (b === null || typeof b !== 'object' || !(b.xs instanceof tf.Tensor) || !(b.ys instanceof tf.Tensor)) {
    throw new DdpError(
      'E_TASK',
      `${what} returned ${describe(b)}`,
      'return { xs, ys }: two tensors made with ctx.tf',
    );
  }
  const n = indices.length;
  if (b.xs.shape[0] !== n || b.ys.shape[0] !== n) {
    throw new DdpError(
      'E_TASK',
      `${what}: xs has shape [${b.xs.shape}] and ys [${b.ys.shape}] for ${n} indices`,
      'return one row of xs and of ys per index, in the order given',
    );
  }
  if (inputShape !== null) {
    const want = inputShape.slice(1);
    const got = b.xs.shape.slice(1);
    if (want.length !== got.length || want.some((s, i) => s !== null && s !== got[i])) {
      throw new DdpError(
        'E_TASK',
        `${what}: xs has shape [${b.xs.shape}], the model's input is [${inputShape.map((s) => s ?? 'n')}]`,
        "make xs match the first layer's inputShape",
      );
    }
  }
}

/** A metric name that is a key in metrics.jsonl, a TensorBoard tag and a report column. */
const METRIC_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const RESERVED_METRICS = new Set(['loss', 'acc']);

function checkedMetrics(metrics: unknown, where: string): [string, (yTrue: tf.Tensor, yPred: tf.Tensor, tf: Tfjs) => tf.Tensor][] {
  if (metrics === undefined) return [];
  if (metrics === null || typeof metrics !== 'object' || Array.isArray(metrics)) {
    throw new DdpError('E_TASK', `model module ${where}: metrics is ${describe(metrics)}`, 'give metrics as an object: { name: (yTrue, yPred) => one value per sample }');
  }
  return Object.entries(metrics).map(([name, f]) => {
    if (!METRIC_NAME.test(name) || RESERVED_METRICS.has(name)) {
      throw new DdpError('E_TASK', `model module ${where}: metric name "${name}" is ${RESERVED_METRICS.has(name) ? 'reserved (always reported)' : 'not allowed'}`, 'name it with a letter, then letters, digits, _ or - (at most 64), other than loss and acc');
    }
    if (typeof f !== 'function') throw new DdpError('E_TASK', `model module ${where}: metrics.${name} is ${describe(f)}, not a function`, 'give (yTrue, yPred) => one value per sample');
    return [name, f as (yTrue: tf.Tensor, yPred: tf.Tensor, tf: Tfjs) => tf.Tensor];
  });
}

function checkedOptimizer(o: unknown, where: string): tf.Optimizer {
  if (!(o instanceof tf.Optimizer)) {
    throw new DdpError('E_TASK', `model module ${where}: optimizer(ctx) returned ${describe(o)}, not a tf.Optimizer`, 'return one of ctx.tf.train: sgd, momentum, adam, rmsprop');
  }
  return o;
}

function checkedLoss(loss: tf.Tensor, yPred: tf.Tensor, where: string, what = 'loss'): tf.Tensor {
  if (loss.rank === 0 || loss.shape[0] !== yPred.shape[0]) {
    throw new DdpError(
      'E_TASK',
      `model module ${where}: ${what}(yTrue, yPred) returned shape [${loss.shape}] for ${yPred.shape[0]} samples`,
      'return one value per sample (no mean): tfjs-ddp sums them, so micro-batches and ranks add up exactly',
    );
  }
  return loss;
}

/** Top-1 correct: arg-max of a multi-class output against class ids (or one-hot labels). */
function correctCount(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar {
  if (yPred.rank !== 2 || yPred.shape[1]! < 2) return tf.scalar(0, 'int32');
  const labels =
    yTrue.rank === 2 && yTrue.shape[1]! > 1 ? tf.argMax(yTrue, 1) : tf.cast(tf.reshape(yTrue, [-1]), 'int32');
  return tf.sum(tf.cast(tf.equal(tf.argMax(yPred, 1), labels), 'int32')) as tf.Scalar;
}

function compiledWith(loss: unknown): string {
  return loss === undefined || loss === null ? 'not compiled' : `compiled with ${describe(loss)}`;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object'
    ? `an object with ${Object.keys(v as object).join(', ') || 'no keys'}`
    : typeof v === 'function'
      ? 'a function'
      : `${typeof v} ${String(v)}`;
}

function sampleList(indices: Uint32Array): string {
  const head = Array.from(indices.subarray(0, 8)).join(', ');
  return indices.length > 8 ? `${head}, … (${indices.length} in all)` : head;
}

/** An optimizer's tfjs class name (`SGDOptimizer`, `AdamOptimizer`…), as `tfjs-ddp check` and the workers report it. */
export function optimizerName(o: tf.Optimizer): string {
  return (o.constructor as { className?: string }).className ?? o.constructor.name;
}
