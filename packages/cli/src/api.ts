// The library API: train() runs exactly what `tfjs-ddp train` runs (the same config resolution, run
// directory, workers, step loop and files), from a program instead of a shell, and loadModel()
// reads back the model a run saved. The CLI's train command is the same composition with flags.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ready } from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  DdpError,
  resolveTrainConfig,
  TRAIN_FIELDS,
  type TaskSettingValues,
  type TrainConfig,
} from '@tfjs-ddp/core';
import {
  makeDefaultRunDir,
  requireRunConfig,
  type Resume,
  type RunSummary,
  type TrainEvent,
} from '@tfjs-ddp/coordinator';
import { fileModelLoader, resolveTaskModule } from '@tfjs-ddp/worker';
import { loadResume, localStart, readConfigFile } from './commands/train';
import { runTraining } from './run-training';

/** Every setting of `tfjs-ddp train` by its TrainConfig name, plus the task's own settings. */
export interface TrainOptions extends Partial<Omit<TrainConfig, 'set'>> {
  /** The task's settings (`--set`): ctx.settings of the model and data modules. */
  settings?: TaskSettingValues;
  /** Aborting stops the run at the next step boundary, with a checkpoint, the model and the summary. */
  signal?: AbortSignal;
  /** The environment the run sees (TFJS_DDP_* settings, fault injection); default: none of it. */
  env?: Record<string, string | undefined>;
  /**
   * Continue the run in this directory from its newest valid checkpoint, in place (`train --resume
   * DIR`): its config.json gives the settings, and options given here may change those that leave
   * the maths alone (workers, backend, epochs, maxSteps, …). A damaged checkpoint is skipped, said
   * on stderr.
   */
  resume?: string;
  /** A new run in a runDir that holds anything moves that to `<runDir>.old-<time>` instead of being refused (`--overwrite`). */
  overwrite?: boolean;
}

export interface TrainHandle extends AsyncIterable<TrainEvent> {
  /** Where the run writes its files. */
  readonly runDir: string;
  /** The run's summary (also in runDir/summary.json); rejects with the run's error. */
  readonly result: Promise<RunSummary>;
  /** Calls `listener` for every event of that type (step, epoch, oom, restart, skipped, …). */
  on<T extends TrainEvent['type']>(
    type: T,
    listener: (e: Extract<TrainEvent, { type: T }>) => void,
  ): TrainHandle;
}

/**
 * Starts a training run and returns at once; `await handle.result` for its summary, or iterate
 * the handle for its events. Bad options throw here (DdpError E_CONFIG / E_TASK), before any work.
 */
export function train(options: TrainOptions = {}): TrainHandle {
  checkOptions(options);
  const { settings, signal, env = {}, resume: resumeDir, overwrite = false, ...rest } = options;
  const flags: Record<string, unknown> = Object.fromEntries(
    Object.entries(rest).filter(([, v]) => v !== undefined),
  );
  if (settings !== undefined) flags['set'] = settings;
  const { config, resume } = resolveRun(
    flags as Partial<Record<keyof TrainConfig, unknown>>,
    resumeDir,
    overwrite,
  );
  config.runDir ??= makeDefaultRunDir(); // created now (a unique name), so that handle.runDir names it
  const sources = Object.fromEntries(Object.keys(flags).map((k) => [k, 'library']));

  const listeners = new Map<string, ((e: TrainEvent) => void)[]>();
  const queue: TrainEvent[] = [];
  let wake: (() => void) | null = null;
  let finished = false;
  const emit = (e: TrainEvent) => {
    for (const f of listeners.get(e.type) ?? []) f(e);
    queue.push(e);
    wake?.();
  };
  let summary: RunSummary | null = null;
  const silent = { write: () => true };
  const result = runTraining(
    config,
    sources,
    { stdout: silent, stderr: silent, env },
    localStart(config, resume, env),
    resume,
    {
      overwrite,
      onEvent: emit,
      onSummary: (s) => (summary = s),
      ...(signal !== undefined ? { signal } : {}),
    },
  )
    .then(() => {
      if (summary === null) throw new Error('the run ended without a summary');
      return summary;
    })
    .finally(() => {
      finished = true;
      wake?.();
    });
  // A caller that only iterates still sees a failure through the iterator; avoid an unhandled rejection.
  result.catch(() => undefined);

  const handle: TrainHandle = {
    runDir: config.runDir,
    result,
    on(type, listener) {
      listeners.set(type, [...(listeners.get(type) ?? []), listener as (e: TrainEvent) => void]);
      return handle;
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        if (finished) break;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
      await result; // rethrows the run's error
    },
  };
  return handle;
}

/**
 * The run's settings, and for `resume` the checkpoint it continues from (as `train --resume`).
 * @throws DdpError E_CONFIG for resume with overwrite or another runDir, a directory that holds no
 *   run, or settings that change the maths; E_CHECKPOINT when the directory holds no usable checkpoint
 */
function resolveRun(
  flags: Partial<Record<keyof TrainConfig, unknown>>,
  resumeDir: string | undefined,
  overwrite: boolean,
): { config: TrainConfig; resume: Resume | undefined } {
  if (resumeDir === undefined) {
    const { config } = resolveTrainConfig({ flags, flagNames: 'library' });
    config.model = resolveTaskModule('model', config.model);
    config.data = resolveTaskModule('data', config.data);
    return { config, resume: undefined };
  }
  if (overwrite) {
    throw new DdpError(
      'E_CONFIG',
      'resume and overwrite cannot be combined',
      'resume goes on in its directory as it is; overwrite is for a new run',
    );
  }
  if (flags.runDir !== undefined && resolve(String(flags.runDir)) !== resolve(resumeDir)) {
    throw new DdpError(
      'E_CONFIG',
      `resume ${resumeDir} and runDir ${String(flags.runDir)} name different directories`,
      'a resumed run goes on in its own directory: leave runDir out',
    );
  }
  requireRunConfig(resumeDir, 'resume');
  const file = join(resumeDir, 'config.json');
  const { config } = resolveTrainConfig({
    file: readConfigFile(file),
    filePath: file,
    flags,
    flagNames: 'library',
  });
  config.runDir = resumeDir;
  return { config, resume: loadResume(resumeDir, config, { stderr: process.stderr }, 'library') };
}

/**
 * The model a run saved (RUN_DIR/model), as a tf.LayersModel; its custom layers must be registered.
 * The process's backend is made ready first (tf.ready()): a program that only imported tfjs-ddp has
 * the wasm backend registered but not yet initialized.
 */
export async function loadModel(runDir: string): Promise<tfl.LayersModel> {
  if (typeof runDir !== 'string' || runDir === '') {
    throw new DdpError(
      'E_CONFIG',
      `loadModel(runDir): runDir must be the path of a run directory, got ${JSON.stringify(runDir) ?? String(runDir)}`,
      "pass the runDir of a finished run (the handle's runDir, or runs/<timestamp>)",
    );
  }
  const file = join(runDir, 'model', 'model.json');
  if (!existsSync(file)) {
    throw new DdpError(
      'E_CONFIG',
      `loadModel(${JSON.stringify(runDir)}): ${file} does not exist`,
      existsSync(runDir)
        ? 'the run saved no model yet: load a finished or stopped run'
        : "pass the runDir of a finished run (the handle's runDir, or runs/<timestamp>)",
    );
  }
  await ready();
  return tfl.loadLayersModel(fileModelLoader(join(runDir, 'model')));
}

/** The names train() takes: every setting of `tfjs-ddp train` by its TrainConfig name, and its own. */
const OPTION_NAMES = new Set([
  ...Object.keys(TRAIN_FIELDS).filter((k) => k !== 'set'),
  'settings',
  'signal',
  'env',
  'resume',
  'overwrite',
]);

/**
 * What TypeScript checks for its users, checked for JavaScript's: no unknown option (a misspelt one
 * would train with the default), an AbortSignal, an object of environment variables.
 * @throws DdpError E_CONFIG naming the option
 */
function checkOptions(options: unknown): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new DdpError(
      'E_CONFIG',
      `train(options): options must be an object, got ${JSON.stringify(options)}`,
      'pass { model, data, workers, … }',
    );
  }
  const o = options as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !OPTION_NAMES.has(k));
  if (unknown.length > 0) {
    throw new DdpError(
      'E_CONFIG',
      `train(): unknown option${unknown.length === 1 ? '' : 's'} ${unknown.join(', ')}`,
      `the options are ${[...OPTION_NAMES].join(', ')} (camelCase: batchSize, maxSteps, …)`,
    );
  }
  const signal = o['signal'] as { addEventListener?: unknown; aborted?: unknown } | undefined;
  if (
    signal !== undefined &&
    (typeof signal !== 'object' ||
      signal === null ||
      typeof signal.addEventListener !== 'function' ||
      typeof signal.aborted !== 'boolean')
  ) {
    throw new DdpError(
      'E_CONFIG',
      'train(): signal must be an AbortSignal',
      'pass new AbortController().signal, or leave signal out',
    );
  }
  const env = o['env'];
  if (env !== undefined && (typeof env !== 'object' || env === null || Array.isArray(env))) {
    throw new DdpError(
      'E_CONFIG',
      `train(): env must be an object of environment variables, got ${JSON.stringify(env)}`,
      'pass { TFJS_DDP_…: "…" }, or leave env out',
    );
  }
}
