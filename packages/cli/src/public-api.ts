// The library API of the published package `tfjs-ddp` (its "." export; tools/package/build.mjs
// bundles this file): train() and loadModel(), the task contract's helpers and types, the event and
// summary types, and the version. Narrower than index.ts, which also exposes the CLI's internals to
// this repository's tests.
export { loadModel, train, type TrainHandle, type TrainOptions } from './api';
export {
  defineData,
  defineModel,
  type DataModule,
  type DataSplit,
  type Example,
  type ModelModule,
  type TaskContext,
  type TaskData,
  type TaskHelpers,
  type TaskSettings,
  type Tfjs,
} from '@tfjs-ddp/worker';
export type { RunSummary, TrainEvent } from '@tfjs-ddp/coordinator';
export type { TaskSettingValues, TrainConfig } from '@tfjs-ddp/core';
export { CLI_VERSION as version } from './version';
