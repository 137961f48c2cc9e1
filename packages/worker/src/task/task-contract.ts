// The task contract: what a user's model module and data module export, and the helpers that give
// them types. A task is two ES module files that every worker process imports itself (objects do
// not cross processes; module paths do). The seed's DenseNet on Fashion-MNIST is the built-in task
// (builtin/), written against this same contract. Read by load-task.ts and task-runtime.ts.
import type * as tfc from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ArraySplitOptions } from './helpers/array-split';
import type { CsvData, CsvDataOptions } from './helpers/csv-data';
import type { IdxData, IdxDataOptions } from './helpers/idx-data';
import type { ImageFolderData, ImageFolderOptions } from './helpers/image-folder';
import type { DataSplit } from './data-split';

export type { DataSplit, Example } from './data-split';

/** The user's settings (`--set key=value`, a config file's `task_settings`), and the seed's. */
export type TaskSettings = Record<string, string | number | boolean | null>;

/**
 * TensorFlow.js as `@tensorflow/tfjs` exports it: tfjs-core's ops and tfjs-layers' `layers`,
 * `sequential`, `model`, `input`… — the one instance tfjs-ddp trains with.
 */
export type Tfjs = typeof tfc & typeof tfl;

/** What `create`, `prepare` and `load` are called with. */
export interface TaskContext {
  /**
   * The one TensorFlow.js instance tfjs-ddp trains with: build tensors and layers with it (a module
   * outside this package's folder need not, and should not, import its own copy).
   */
  tf: Tfjs;
  /** The run's seed (--seed): seed the initializers with it so that every rank builds the same model. */
  seed: number;
  /** This process's rank (0 on the coordinator's host for `prepare`). */
  rank: number;
  settings: TaskSettings;
  /** The worker's environment (the coordinator's for `prepare`). */
  env: Record<string, string | undefined>;
  /** Data helpers, bound to `tf` (helpers/): no import needed. */
  helpers: TaskHelpers;
}

/** What `ctx.helpers` offers a data module. */
export interface TaskHelpers {
  /** A split over in-memory arrays (helpers/array-split.ts). */
  arraySplit(o: ArraySplitOptions): DataSplit;
  /** A CSV file's rows as train and test splits (helpers/csv-data.ts). */
  csvData(o: CsvDataOptions): CsvData;
  /** A folder of PNG images with a sub-folder per class (helpers/image-folder.ts). */
  imageFolder(o: ImageFolderOptions): ImageFolderData;
  /** IDX files (MNIST's format, raw or .gz): images and labels per split (helpers/idx-data.ts). */
  idxData(o: IdxDataOptions): IdxData;
}

export interface TaskData {
  train: DataSplit;
  /** Evaluated at every epoch's end and by `tfjs-ddp eval`. */
  test?: DataSplit | null;
}

/** The default export of a model module. */
export interface ModelModule {
  /** A new model, with the weights drawn from `ctx.seed`. */
  create(ctx: TaskContext): tfl.LayersModel | Promise<tfl.LayersModel>;
  /**
   * The loss of each sample (a tensor with one value per row of `yPred`); tfjs-ddp sums them, so
   * that micro-batches and ranks add up to the global batch's. Default: the loss `model.compile()`
   * was given.
   */
  loss?(yTrue: tfc.Tensor, yPred: tfc.Tensor): tfc.Tensor;
  /**
   * Metrics by name, each a value per sample (like `loss`): tfjs-ddp sums them over micro-batches
   * and ranks and reports the mean under that name for every step (metrics.jsonl), epoch (train and
   * test), the report and TensorBoard. Names: letters, digits, `_` and `-`. Besides `loss` and, for a
   * classifier, `acc`, which are always there. The third argument is `ctx.tf`.
   */
  metrics?: Record<string, (yTrue: tfc.Tensor, yPred: tfc.Tensor, tf: Tfjs) => tfc.Tensor>;
  /**
   * The optimizer to train with (SGD, momentum, Adam, RMSProp of `ctx.tf.train`), over the one
   * `model.compile()` was given. Neither: SGD with --lr and --momentum.
   */
  optimizer?(ctx: TaskContext): tfc.Optimizer;
}

/** The default export of a data module. */
export interface DataModule {
  /** Runs once, on the coordinator's host, before any worker starts: downloads, caches, checks. */
  prepare?(ctx: TaskContext): void | Promise<void>;
  /** Runs in every worker process. */
  load(ctx: TaskContext): TaskData | Promise<TaskData>;
}

/** Types a model module's default export (an identity: a plain object works as well). */
export function defineModel<T extends ModelModule>(module: T): T {
  return module;
}

/** Types a data module's default export (an identity: a plain object works as well). */
export function defineData<T extends DataModule>(module: T): T {
  return module;
}
