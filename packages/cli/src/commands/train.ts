// `tfjs-ddp train`: the seed's recipe (or any other) on Fashion-MNIST. Resolves the config (flags >
// environment > --config file > preset > defaults; a bad value exits 2 before any work), loads the
// checkpoint of a --resume, and hands over to runTraining (run-training.ts: the run directory, the
// coordinator's step loop over the workers; SIGINT/SIGTERM stop at the next step boundary with every
// file written).
import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { DdpError, decodeTrainingState, MATH_KEYS, resolveTrainConfig, TRAIN_FIELDS, envName, type RankTraceSink, type TrainConfig } from '@tfjs-ddp/core';
import { CheckpointStore, loopCheckpointFromJson, requireRunConfig, type Resume, type RunDir } from '@tfjs-ddp/coordinator';
import type { Logger } from 'pino';
import { resolveTaskModule } from '@tfjs-ddp/worker';
import { defineCommand, type CliIo, type OptionSpec } from '../command';
import { startInProcess, startLocalProcesses, workerCount, type StartedGroup } from '../groups';
import { runTraining } from '../run-training';

const FLAG_HELP: Record<keyof TrainConfig, [string, string]> = {
  preset: ['NAME', 'seed (the d2l recipe) or quick (32×32 inputs, batch 48, 3 epochs: a CPU-sized run)'],
  model: ['FILE', 'your model module (docs/your-model.md), or builtin:densenet, the seed\'s (default)'],
  data: ['FILE', 'your data module (docs/your-model.md), or builtin:fashion-mnist, the seed\'s (default)'],
  set: ['K=V,…', 'settings for your modules, e.g. hidden=64,dropout=0.1 (ctx.settings; a config file takes an object)'],
  lr: ['X', 'SGD learning rate (default 0.1)'],
  lrSchedule: ['NAME', 'constant, step or cosine: how the learning rate (--lr, or your optimizer\'s) changes with the step; cosine decays to 0 over all epochs (default constant)'],
  warmupSteps: ['N', 'steps of linear learning-rate warm-up before the schedule (default 0)'],
  lrStepEvery: ['N|epoch', 'step schedule: multiply the learning rate by --lr-gamma every N steps (default epoch: every epoch)'],
  lrGamma: ['X', 'step schedule: the factor (default 0.1)'],
  momentum: ['X', 'SGD momentum, PyTorch convention (default 0)'],
  batchSize: ['N|auto', 'global batch over all workers (default 256); auto: the largest that needs no accumulation'],
  microBatch: ['N|auto', 'largest micro-batch per worker; larger slices accumulate gradients (default auto: measured by the memory-fit search)'],
  memoryBudget: ['SIZE', 'memory a worker may use, e.g. 3GiB (default: the backend limit: wasm heap 4 GiB, GPU memory, or RAM / cores)'],
  memoryMargin: ['X', 'share of the memory budget the search keeps free (default 0.05)'],
  epochs: ['N', 'epochs (default 10)'],
  resize: ['N', 'input size the 28×28 images are resized to (default 96, at least 29)'],
  pool: ['max|avg', 'global pooling before the classifier (default max, as the seed)'],
  seed: ['N', 'seed of the weights and the sample order (default 0)'],
  backend: ['NAME', 'auto, tensorflow-gpu, webgpu, tensorflow, wasm or cpu (default auto: the first that works, in that order; auto skips a software WebGPU adapter)'],
  workers: ['N|auto', 'worker processes (default auto: one per GPU when the GPU backend works, else one per CPU core)'],
  gpus: ['IDS', 'GPU ids for the local workers, e.g. 0,2,3 (default: all visible)'],
  shareGpu: ['', 'allow several local ranks on one GPU adapter (single-GPU machines, the software adapter); otherwise two ranks on one adapter stop the run'],
  stepTimeout: ['SECONDS', 'fail the run when a step takes longer, naming the ranks that did not finish (default 600)'],
  joinTimeout: ['SECONDS', 'how long to wait for all workers to join (default 300)'],
  maxRestarts: ['N', 'local worker processes the run may replace when one dies or stalls, before it fails (default 3)'],
  minWorkers: ['N|all', 'coordinator: go on with at least N workers when workers on other hosts are lost; new workers may join up to --world-size (default all: a lost remote worker ends the run)'],
  maxSkippedSteps: ['N', 'steps in a row with a non-finite gradient (each skipped on every rank) before the run stops (default 5)'],
  auditEvery: ['N', 'silent data corruption audit: every N steps each rank also recomputes one micro-batch of its neighbour, and a gradient that disagrees stops the run with E_SDC naming the rank; a model whose step is not repeatable (dropout) has it switched off at its first audit, with a warning (default 200: about 0.5 % of the training time; 0: never)'],
  dataDir: ['DIR', 'Fashion-MNIST directory (default: TFJS_DDP_DATA, the cache, the Debian package, download)'],
  verifyData: ['true|false', 'check the SHA-256 of the canonical dataset files (default true)'],
  runDir: ['DIR', 'where the run writes its files (default runs/<timestamp>)'],
  maxSteps: ['N', 'stop after N optimizer steps in all, counted from the run\'s start (default: all epochs)'],
  evalLimit: ['N', 'evaluate on the first N test samples only, for smoke runs (default: all; metrics.jsonl\'s test_count says how many)'],
  checkpointEvery: ['N', 'write a checkpoint every N steps, besides every epoch end and a stop (default 50; 0: only those)'],
  keepCheckpoints: ['N', 'how many checkpoints to keep, newest first (default 2)'],
  logLevel: ['LEVEL', 'train.log level: trace, debug, info, warn, error, fatal, silent (default info)'],
  timeline: ['FILE', 'write a Chrome trace (Perfetto, chrome://tracing) of every rank\'s step phases and the coordinator\'s to FILE; a resumed run appends (default: none)'],
};

export const TRAIN_OPTIONS: Record<string, OptionSpec> = {
  config: { type: 'string', valueName: 'FILE', description: 'JSON file of settings, keys as in config.json: the flags\' names with _ for - (batch_size, max_steps, …)' },
};
/** `train` and `coordinator`: continue a stopped run, or start one in a directory that holds something. */
export const RUN_DIR_OPTIONS: Record<string, OptionSpec> = {
  resume: { type: 'string', valueName: 'RUN_DIR', description: 'continue that run from its newest valid checkpoint, in place (its config.json; flags may change workers, backend, epochs, --max-steps)' },
  overwrite: { type: 'boolean', description: 'a --run-dir that holds anything is refused; with --overwrite its content is moved to <run-dir>.old-<time> beside it (nothing is deleted) [TFJS_DDP_OVERWRITE]' },
};
for (const [key, spec] of Object.entries(TRAIN_FIELDS) as [keyof TrainConfig, (typeof TRAIN_FIELDS)[keyof TrainConfig]][]) {
  const [valueName, description] = FLAG_HELP[key];
  // A switch (--share-gpu) takes no value; every other setting takes one.
  TRAIN_OPTIONS[spec.flag] = valueName === '' ? { type: 'boolean', description: `${description} [${envName(key)}]` } : { type: 'string', valueName, description: `${description} [${envName(key)}]` };
}

/** Resolves the run's config from --config, the environment and the flags of `values`. */
export function configFromValues(values: Readonly<Record<string, string | boolean | undefined>>, io: CliIo): ReturnType<typeof resolveTrainConfig> {
  const flags: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(TRAIN_FIELDS)) {
    const v = values[spec.flag];
    // An absent switch parses as false: it must not override the environment or --config.
    if (v !== undefined && v !== false) flags[key] = v;
  }
  const configPath = values['config'] as string | undefined;
  const r = resolveTrainConfig({
    ...(configPath !== undefined ? { file: readConfigFile(configPath), filePath: configPath } : {}),
    env: io.env,
    flags,
  });
  // The task's modules as absolute paths (checked to exist now, before any work): what every worker
  // imports, and what config.json keeps, so that a resume from another directory finds them.
  r.config.model = resolveTaskModule('model', r.config.model);
  r.config.data = resolveTaskModule('data', r.config.data);
  return r;
}

export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new DdpError('E_CONFIG', `cannot read --config ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new DdpError('E_CONFIG', `--config ${path} is not a JSON object of settings (${(e as Error).message})`);
  }
}

export const trainCommand = defineCommand({
  name: 'train',
  summary: 'Train the DenseNet on Fashion-MNIST (the seed recipe by default)',
  description: [
    'Trains the d2l DenseNet on Fashion-MNIST with SGD: by default lr 0.1, global batch 256, 10 epochs,',
    'inputs resized to 96×96, seed 0, backend auto. Batches larger than a worker can hold are computed',
    'as micro-batches with gradient accumulation, so the update is that of the whole global batch.',
    'Settings come from, highest first: flags, environment variables (TFJS_DDP_<NAME>, shown in',
    'brackets), the --config JSON file, the --preset, the defaults. Invalid values exit with code 2.',
    'Writes <run-dir>/config.json, metrics.jsonl, summary.json, train.log, tensorboard/, checkpoints/',
    'and model/ (TensorFlow.js layers format). Ctrl-C stops at the next step boundary, checkpoints and saves',
    'everything; `--resume RUN_DIR` continues that run exactly where its last checkpoint left it.',
  ].join('\n'),
  options: { ...TRAIN_OPTIONS, ...RUN_DIR_OPTIONS },
  async run(values, io) {
    const { config: run, sources, resume, overwrite } = runFromValues(values, io);
    return runTraining(run, sources, io, localStart(run, resume, io.env), resume, { overwrite });
  },
});

/**
 * The run's settings, and with --resume RUN_DIR the checkpoint it continues from: RUN_DIR's
 * config.json overridden by the flags and the environment, run directory RUN_DIR.
 * @throws DdpError E_USAGE for --resume with --config, --overwrite or another --run-dir; E_CONFIG
 *   for a bad TFJS_DDP_OVERWRITE, or a RUN_DIR that is not a run (no config.json tfjs-ddp wrote);
 *   see loadResume
 */
export function runFromValues(
  values: Readonly<Record<string, string | boolean | undefined>>,
  io: CliIo,
): { config: TrainConfig; sources: Record<string, string>; resume: Resume | undefined; overwrite: boolean } {
  const overwrite = overwriteFrom(values, io.env);
  const resumeDir = values['resume'] as string | undefined;
  if (resumeDir === undefined) return { ...configFromValues(values, io), resume: undefined, overwrite };
  if (values['config'] !== undefined) throw new DdpError('E_USAGE', '--resume and --config cannot be combined', 'a resumed run takes its settings from RUN_DIR/config.json; flags may change those that do not change the maths');
  if (values['overwrite'] === true) throw new DdpError('E_USAGE', '--resume and --overwrite cannot be combined', '--resume goes on in RUN_DIR as it is; --overwrite is for a new run');
  const runDir = values['run-dir'];
  if (typeof runDir === 'string' && resolve(runDir) !== resolve(resumeDir)) {
    throw new DdpError('E_USAGE', `--resume ${resumeDir} and --run-dir ${runDir} name different directories`, 'a resumed run goes on in its own directory: leave --run-dir out (or --resume, to start a new run in --run-dir)');
  }
  const envRunDir = io.env['TFJS_DDP_RUN_DIR'];
  if (runDir === undefined && envRunDir !== undefined && envRunDir !== '' && resolve(envRunDir) !== resolve(resumeDir)) {
    io.stderr.write(`tfjs-ddp: warning: TFJS_DDP_RUN_DIR=${envRunDir} is not used: --resume ${resumeDir} goes on in its own directory\n`);
  }
  requireRunConfig(resumeDir, '--resume');
  const { config, sources } = configFromValues({ ...values, config: join(resumeDir, 'config.json') }, io);
  return { config: { ...config, runDir: resumeDir }, sources, resume: loadResume(resumeDir, config, io), overwrite: false };
}

/** --overwrite, or TFJS_DDP_OVERWRITE (true|false|1|0). */
function overwriteFrom(values: Readonly<Record<string, string | boolean | undefined>>, env: CliIo['env']): boolean {
  if (values['overwrite'] === true) return true;
  const v = env['TFJS_DDP_OVERWRITE'];
  if (v === undefined || v === '' || v === 'false' || v === '0') return false;
  if (v === 'true' || v === '1') return true;
  throw new DdpError('E_CONFIG', `TFJS_DDP_OVERWRITE must be true or false, got ${JSON.stringify(v)}`);
}

/**
 * The checkpoint `train --resume RUN_DIR` continues from: the newest that checks out (each one
 * skipped is named on stderr), after checking that `config` keeps the maths of the run.
 * @throws DdpError E_CONFIG listing the settings that differ; E_CHECKPOINT when there is no usable checkpoint.
 */
export function loadResume(dir: string, config: TrainConfig, io: Pick<CliIo, 'stderr'>, names: 'cli' | 'library' = 'cli'): Resume {
  const saved = resolveTrainConfig({ file: readConfigFile(join(dir, 'config.json')), filePath: join(dir, 'config.json') }).config;
  const differ = MATH_KEYS.filter((k) => JSON.stringify(saved[k]) !== JSON.stringify(config[k]));
  if (differ.length > 0) {
    throw new DdpError(
      'E_CONFIG',
      `${names === 'cli' ? '--resume' : 'train(): resume'} ${dir}: ${differ.map((k) => `${names === 'cli' ? TRAIN_FIELDS[k].flag : k} ${JSON.stringify(saved[k])} → ${JSON.stringify(config[k])}`).join(', ')} would change the maths of the run`,
      'resume with the run\'s own settings (workers, backend, epochs, --max-steps and the like may change), or start a new run',
    );
  }
  const store = new CheckpointStore(dir, config.keepCheckpoints);
  const ck = store.latest((d, why) => io.stderr.write(`tfjs-ddp: skipping checkpoint ${d}: ${why}\n`));
  if (ck === null) {
    const why = store.names().length === 0 ? 'the run stopped before its first checkpoint: summary.json and train.log say why' : 'each one was skipped, for the reason above';
    throw new DdpError(
      'E_CHECKPOINT',
      `${store.root} holds no usable checkpoint (${why})`,
      `start the run anew: tfjs-ddp train --config ${join(dir, 'config.json')} --run-dir ${dir} --overwrite moves this run's files to ${basename(resolve(dir))}.old-<time> beside it (nothing is deleted), or pass another --run-dir`,
    );
  }
  const text = (n: string) => new TextDecoder().decode(ck.files[n] ?? new Uint8Array());
  // Its loop.json, state.json and manifest.json may be snake_case or, from before, camelCase.
  const loop = loopCheckpointFromJson(text('loop.json'), `${ck.dir}/loop.json`);
  const state = decodeTrainingState(text('state.json'), ck.files['state.bin'] ?? new Uint8Array(), ck.dir);
  return { loop, state, from: ck.dir };
}

/** How `train` starts its workers: one in this process, or N local worker processes. */
export function localStart(run: TrainConfig, resume: Resume | undefined, env: Record<string, string | undefined>): (runDir: RunDir, log: Logger, trace: RankTraceSink | undefined) => Promise<StartedGroup> {
  const count = workerCount(run);
  // Resumed on as many ranks: each keeps its capacity (no new search), so the split is the same.
  const capacities = resume !== undefined && resume.loop.capacities.length === count ? resume.loop.capacities : undefined;
  return (runDir, log, trace) =>
    count === 1
      ? startInProcess(capacities !== undefined ? { ...run, microBatch: capacities[0]! } : run, env, log, trace)
      : startLocalProcesses(run, count, runDir, log, capacities, trace);
}

