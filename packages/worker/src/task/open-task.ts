// From worker settings to a task: which modules (the seed's unless the run names others), the
// settings they are given (the seed's resize, pool, BatchNorm and data flags, then the user's), and
// the context they run in. Used by the worker process, the in-process worker and the coordinator's
// host (prepare, before any worker starts).
import * as tfc from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { WorkerSettings } from '@tfjs-ddp/core';
import { loadDataModule, SEED_TASK, type TaskModules } from './load-task';
import { registerChainedOps } from './chained-ops';
import { arraySplit } from './helpers/array-split';
import { csvData } from './helpers/csv-data';
import { idxData } from './helpers/idx-data';
import { imageFolder } from './helpers/image-folder';
import type { TaskContext, TaskHelpers, TaskSettings, Tfjs } from './task-contract';
import { instantiateTask, type Task } from './task-runtime';

/** tfjs-core and tfjs-layers in one namespace, as `@tensorflow/tfjs` has them. */
const TF: Tfjs = Object.freeze({ ...tfc, ...tfl }) as Tfjs;

const HELPERS: TaskHelpers = {
  arraySplit: (o) => arraySplit(tfc, o),
  csvData: (o) => csvData(tfc, o),
  imageFolder: (o) => imageFolder(tfc, o),
  idxData: (o) => idxData(tfc, o),
};

/** What of the worker settings a task depends on. */
export type TaskWorkerSettings = Pick<
  WorkerSettings,
  'resize' | 'pool' | 'seed' | 'batchNorm' | 'dataDir' | 'verifyData' | 'task' | 'taskSettings'
>;

export function taskModules(s: TaskWorkerSettings): TaskModules {
  return s.task ?? SEED_TASK;
}

/** The context a task's functions get on `rank`; `dataDir` overrides the settings' (a worker's own --data-dir). */
export function taskContext(
  s: TaskWorkerSettings,
  rank: number,
  env: Record<string, string | undefined>,
  dataDir: string | null = s.dataDir,
): TaskContext {
  // Users' code and tfjs-layers (every GRU's and LSTM's initializer) call tensor methods.
  registerChainedOps();
  const seed: TaskSettings = {
    resize: s.resize,
    pool: s.pool,
    batch_norm: s.batchNorm ?? true,
    data_dir: dataDir,
    verify_data: s.verifyData,
  };
  return {
    tf: TF,
    seed: s.seed,
    rank,
    settings: { ...seed, ...(s.taskSettings ?? {}) },
    env,
    helpers: HELPERS,
  };
}

/** Builds the task on this process's backend (after the backend is selected). */
export function openTask(
  s: TaskWorkerSettings,
  rank: number,
  env: Record<string, string | undefined>,
  dataDir?: string | null,
): Promise<Task> {
  return instantiateTask(taskModules(s), taskContext(s, rank, env, dataDir));
}

/** Runs the data module's prepare(ctx) once, on the coordinator's host, before any worker starts. */
export async function prepareTask(
  s: TaskWorkerSettings,
  env: Record<string, string | undefined>,
): Promise<void> {
  const d = await loadDataModule(taskModules(s).data);
  await d.module.prepare?.(taskContext(s, 0, env));
}
