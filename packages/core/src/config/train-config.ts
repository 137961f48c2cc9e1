// TrainConfig: the resolved settings of a training run, and the one place where defaults, presets,
// a config file, environment variables and command-line flags are merged and validated.
// Precedence (highest first): flags > environment (TFJS_DDP_*) > config file > preset > defaults.
// Called by the CLI before any work starts; a bad value is a DdpError E_CONFIG (exit code 2).
import { DdpError } from '../errors';
import { parseBytes } from '../memory/bytes';
import { LR_SCHEDULES, type LrScheduleKind } from './lr-schedule';

export * from './lr-schedule';

export const BACKEND_CHOICES = ['auto', 'tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const PRESETS = ['seed', 'quick'] as const;
export type PresetName = (typeof PRESETS)[number];
export const POOLS = ['max', 'avg'] as const;
/** With --batch-size auto, the most samples one worker's search looks for. */
export const AUTO_BATCH_LIMIT = 1024;

/** The largest micro-batch worth searching for: no rank computes more than the global batch at once. */
export function searchLimit(batchSize: number | 'auto'): number {
  return batchSize === 'auto' ? AUTO_BATCH_LIMIT : batchSize;
}

/** A task's own settings (`--set key=value,…`), handed to its modules as `ctx.settings`. */
export type TaskSettingValues = Record<string, string | number | boolean | null>;

/** The seed's task, built into tfjs-ddp: the d2l DenseNet on Fashion-MNIST. */
export const SEED_MODEL = 'builtin:densenet';
export const SEED_DATA = 'builtin:fashion-mnist';

export interface TrainConfig {
  preset: PresetName;
  /** The model module: `builtin:densenet` (the seed's) or the path of the user's ES module. */
  model: string;
  /** The data module: `builtin:fashion-mnist` (the seed's) or the path of the user's ES module. */
  data: string;
  /** The task's own settings, over the seed's resize, pool, data_dir… (ctx.settings). */
  set: TaskSettingValues;
  /** SGD learning rate. */
  lr: number;
  /** PyTorch-style momentum; 0 = plain SGD (the seed). */
  momentum: number;
  /** How the learning rate changes with the step (config/lr-schedule.ts); constant = the seed. */
  lrSchedule: LrScheduleKind;
  /** Steps of linear learning-rate warm-up. */
  warmupSteps: number;
  /** `step` schedule: multiply the rate by lrGamma every this many steps; null = every epoch. */
  lrStepEvery: number | null;
  lrGamma: number;
  /** Global batch: samples per optimizer step, over all workers; auto = the sum of the workers' measured capacities. */
  batchSize: number | 'auto';
  /** Largest micro-batch a worker computes at once (gradients are accumulated); auto = measured by the memory-fit search. */
  microBatch: number | 'auto';
  /** Bytes a worker's micro-batch may use (caps the backend's own limit); null = the backend's limit. */
  memoryBudget: number | null;
  /** Share of the memory budget the micro-batch search keeps free. */
  memoryMargin: number;
  epochs: number;
  /** Input size the 28×28 images are resized to. */
  resize: number;
  pool: 'max' | 'avg';
  seed: number;
  backend: BackendChoice;
  /** Worker processes; null = auto: one per visible GPU when the GPU backend is usable, else one per CPU core. */
  workers: number | null;
  /** GPU ids for the local workers (CUDA_VISIBLE_DEVICES of worker i = gpus[i]); null = all visible. */
  gpus: number[] | null;
  /** Let several local ranks run on one GPU adapter (a single-GPU machine, a software adapter, tests). */
  shareGpu: boolean;
  /** Seconds a step (or evaluation, or save) may take before the run fails naming the missing ranks. */
  stepTimeout: number;
  /** Seconds to wait for all workers to join. */
  joinTimeout: number;
  /** Worker processes the run may replace (a worker that died or stalled) before it fails. */
  maxRestarts: number;
  /**
   * Multi-node: the fewest workers the run goes on with when workers on other hosts are lost (the
   * global batch is kept and split anew); null = the world size (a lost remote worker ends the run).
   */
  minWorkers: number | null;
  /** Steps in a row whose gradient may be non-finite (each skipped on every rank) before the run stops. */
  maxSkippedSteps: number;
  /**
   * Every this many steps, each rank also recomputes one micro-batch of its ring neighbour and the
   * coordinator compares the gradients' digests (silent data corruption audit); 0 = never.
   */
  auditEvery: number;
  dataDir: string | null;
  /** Check the SHA-256 of the canonical Fashion-MNIST files (turn off only for generated test data). */
  verifyData: boolean;
  runDir: string | null;
  /** Stop after this many optimizer steps in total (for smoke runs); null = run all epochs. */
  maxSteps: number | null;
  /** Evaluate on the first N test samples only (smoke runs, like Lightning's limit_test_batches); null = all. */
  evalLimit: number | null;
  /** A checkpoint every this many steps (also at every epoch end and when stopped); 0 = only those. */
  checkpointEvery: number;
  /** How many checkpoints to keep (the newest). */
  keepCheckpoints: number;
  logLevel: LogLevel;
  /** Write a Chrome trace of every rank's and the coordinator's phases to this file; null = none. */
  timeline: string | null;
}

/**
 * Settings that change the arithmetic of a run: a resumed run must have the same. The others (how
 * many workers, which backend, how long, where to write) may change between a stop and a resume.
 */
export const MATH_KEYS = ['model', 'data', 'set', 'lr', 'momentum', 'lrSchedule', 'warmupSteps', 'lrStepEvery', 'lrGamma', 'batchSize', 'resize', 'pool', 'seed'] as const;

export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  preset: 'seed',
  model: SEED_MODEL,
  data: SEED_DATA,
  set: {},
  lr: 0.1,
  momentum: 0,
  lrSchedule: 'constant',
  warmupSteps: 0,
  lrStepEvery: null,
  lrGamma: 0.1,
  batchSize: 256,
  microBatch: 'auto',
  memoryBudget: null,
  memoryMargin: 0.05,
  epochs: 10,
  resize: 96,
  pool: 'max',
  seed: 0,
  backend: 'auto',
  workers: null,
  gpus: null,
  shareGpu: false,
  stepTimeout: 600,
  joinTimeout: 300,
  // torchrun's --max-restarts counts restarts of the whole job; ours replaces one rank at a time.
  maxRestarts: 3,
  minWorkers: null,
  // One non-finite gradient can be a bad batch; five in a row is a diverged run.
  maxSkippedSteps: 5,
  // An audit step costs about one more step (a micro-batch's forward and backward, when a rank
  // computes one): +0.9–1.0× a step, measured by bench:audit (docs/benchmarks.md), so 200 keeps
  // it at 0.4–0.6 % of the training time; 100 measured up to 1.1 %.
  auditEvery: 200,
  dataDir: null,
  verifyData: true,
  runDir: null,
  maxSteps: null,
  evalLimit: null,
  checkpointEvery: 50,
  keepCheckpoints: 2,
  logLevel: 'info',
  timeline: null,
};

/**
 * Presets change only what their comment says. `quick`: a CPU-sized run of the seed recipe, chosen
 * by measurement (docs/benchmarks.md, "The quick recipe"): 32×32 inputs (the smallest the network
 * takes without shrinking any layer to nothing), 3 epochs, and global batch 48 — more updates per
 * epoch than 64 (with 64: 0.8664 after 3 epochs) at about the same samples/s with 2 workers: test
 * accuracy 0.8653 / 0.8794 / 0.8889 per epoch, 13 min 44 s wall with 2 wasm workers on 2 cores.
 */
export const PRESET_VALUES: Record<PresetName, Partial<TrainConfig>> = {
  seed: {},
  quick: { resize: 32, batchSize: 48, epochs: 3 },
};

type Key = keyof TrainConfig;
type Source = 'default' | 'preset' | 'config file' | 'environment' | 'flag';

interface FieldSpec {
  /** The command-line flag; the config-file key is the same with '-' → '_' (fileKey). */
  flag: string;
  parse(raw: unknown, where: string): TrainConfig[Key];
}

function fail(where: string, what: string, raw: unknown): never {
  const hint = where.startsWith('train(): ')
    ? "see `tfjs-ddp train --help`: each of train()'s options is a flag there, in camelCase (batchSize is --batch-size)"
    : 'see `tfjs-ddp train --help`';
  throw new DdpError('E_CONFIG', `${where} ${what}, got ${JSON.stringify(raw)}`, hint);
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function num(opts: { int?: boolean; min?: number; max?: number; minExclusive?: boolean; nullable?: boolean; nullWord?: string }) {
  return (raw: unknown, where: string): number | null => {
    if (opts.nullable && (raw === null || raw === (opts.nullWord ?? 'none'))) return null;
    // Decimal only: Number() would also take 0x10, 0b11 and 0o7.
    const v = typeof raw === 'number' ? raw : typeof raw === 'string' && DECIMAL.test(raw.trim()) ? Number(raw) : NaN;
    const kind = opts.int ? 'an integer' : 'a number';
    if (!Number.isFinite(v) || (opts.int && !Number.isInteger(v))) fail(where, `must be ${kind}`, raw);
    if (opts.min !== undefined && (opts.minExclusive ? v <= opts.min : v < opts.min)) {
      fail(where, `must be ${opts.minExclusive ? '>' : '≥'} ${opts.min}`, raw);
    }
    if (opts.max !== undefined && v >= opts.max) fail(where, `must be < ${opts.max}`, raw);
    return v;
  };
}

/** A positive integer, or the word auto (also null in a config file). */
function intOrAuto(raw: unknown, where: string): number | 'auto' {
  if (raw === 'auto' || raw === null) return 'auto';
  return num({ int: true, min: 1 })(raw, where)!;
}

function bytes(raw: unknown, where: string): number | null {
  if (raw === null || raw === 'none') return null;
  const v = typeof raw === 'number' || typeof raw === 'string' ? parseBytes(raw) : NaN;
  if (!Number.isFinite(v) || v < 2 ** 20) fail(where, 'must be a size of at least 1MiB, like 3GiB, 1500MiB or 2e9', raw);
  return v;
}

function oneOf<T extends string>(choices: readonly T[]) {
  return (raw: unknown, where: string): T => {
    if (typeof raw !== 'string' || !(choices as readonly string[]).includes(raw)) fail(where, `must be one of ${choices.join(', ')}`, raw);
    return raw as T;
  };
}

function str(nullable: boolean) {
  return (raw: unknown, where: string): string | null => {
    if (nullable && raw === null) return null;
    if (typeof raw !== 'string' || raw.length === 0) fail(where, 'must be a non-empty path', raw);
    return raw;
  };
}

function scalar(v: string): string | number | boolean | null {
  if (v === 'true' || v === 'false') return v === 'true';
  if (v === 'null') return null;
  return v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : v;
}

/** `key=value,key=value` (values: numbers, true/false, null, else strings), or an object in a config file. */
function taskSettings(raw: unknown, where: string): TaskSettingValues {
  let entries: [string, unknown][];
  if (typeof raw === 'string') {
    entries = raw.trim() === '' ? [] : raw.split(',').map((part) => {
      const eq = part.indexOf('=');
      if (eq <= 0) fail(where, 'must be key=value pairs separated by commas, like hidden=64,dropout=0.1', raw);
      return [part.slice(0, eq).trim(), scalar(part.slice(eq + 1).trim())];
    });
  } else if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    entries = Object.entries(raw);
  } else {
    return fail(where, 'must be key=value pairs (or an object in a config file)', raw);
  }
  for (const [k, v] of entries) {
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(k)) fail(where, `has the key "${k}": keys are letters, digits, _ . -`, raw);
    if (v !== null && !['string', 'number', 'boolean'].includes(typeof v)) fail(where, `has a value for "${k}" that is not a string, number, boolean or null`, raw);
  }
  return Object.fromEntries(entries) as TaskSettingValues;
}

function intList(raw: unknown, where: string): number[] | null {
  if (raw === null || raw === 'all') return null;
  const parts = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : [raw];
  const ids = parts.map((p) => (typeof p === 'number' ? p : typeof p === 'string' && /^\d+$/.test(p.trim()) ? Number(p) : NaN));
  if (ids.length === 0 || ids.some((n) => !Number.isInteger(n) || n < 0) || new Set(ids).size !== ids.length) {
    fail(where, 'must be distinct device ids like 0,2,3 (or all)', raw);
  }
  return ids;
}

function bool(raw: unknown, where: string): boolean {
  if (typeof raw === 'boolean') return raw;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  return fail(where, 'must be true or false', raw);
}

export const TRAIN_FIELDS: Record<Key, FieldSpec> = {
  preset: { flag: 'preset', parse: oneOf(PRESETS) },
  model: { flag: 'model', parse: str(false) },
  data: { flag: 'data', parse: str(false) },
  set: { flag: 'set', parse: taskSettings },
  lr: { flag: 'lr', parse: num({ min: 0, minExclusive: true }) },
  momentum: { flag: 'momentum', parse: num({ min: 0, max: 1 }) },
  lrSchedule: { flag: 'lr-schedule', parse: oneOf(LR_SCHEDULES) },
  warmupSteps: { flag: 'warmup-steps', parse: num({ int: true, min: 0 }) },
  lrStepEvery: { flag: 'lr-step-every', parse: num({ int: true, min: 1, nullable: true, nullWord: 'epoch' }) },
  lrGamma: { flag: 'lr-gamma', parse: num({ min: 0, minExclusive: true, max: 1 }) },
  batchSize: { flag: 'batch-size', parse: intOrAuto },
  microBatch: { flag: 'micro-batch', parse: intOrAuto },
  memoryBudget: { flag: 'memory-budget', parse: bytes },
  memoryMargin: { flag: 'memory-margin', parse: num({ min: 0, max: 0.9 }) },
  epochs: { flag: 'epochs', parse: num({ int: true, min: 1 }) },
  resize: { flag: 'resize', parse: num({ int: true, min: 29 }) },
  pool: { flag: 'pool', parse: oneOf(POOLS) },
  seed: { flag: 'seed', parse: num({ int: true, min: 0 }) },
  backend: { flag: 'backend', parse: oneOf(BACKEND_CHOICES) },
  workers: { flag: 'workers', parse: num({ int: true, min: 1, nullable: true, nullWord: 'auto' }) },
  gpus: { flag: 'gpus', parse: intList },
  shareGpu: { flag: 'share-gpu', parse: bool },
  stepTimeout: { flag: 'step-timeout', parse: num({ min: 0, minExclusive: true }) },
  joinTimeout: { flag: 'join-timeout', parse: num({ min: 0, minExclusive: true }) },
  maxRestarts: { flag: 'max-restarts', parse: num({ int: true, min: 0 }) },
  minWorkers: { flag: 'min-workers', parse: num({ int: true, min: 1, nullable: true, nullWord: 'all' }) },
  maxSkippedSteps: { flag: 'max-skipped-steps', parse: num({ int: true, min: 0 }) },
  auditEvery: { flag: 'audit-every', parse: num({ int: true, min: 0 }) },
  dataDir: { flag: 'data-dir', parse: str(true) },
  verifyData: { flag: 'verify-data', parse: bool },
  runDir: { flag: 'run-dir', parse: str(true) },
  maxSteps: { flag: 'max-steps', parse: num({ int: true, min: 1, nullable: true }) },
  evalLimit: { flag: 'eval-limit', parse: num({ int: true, min: 1, nullable: true }) },
  checkpointEvery: { flag: 'checkpoint-every', parse: num({ int: true, min: 0 }) },
  keepCheckpoints: { flag: 'keep-checkpoints', parse: num({ int: true, min: 1 }) },
  logLevel: { flag: 'log-level', parse: oneOf(LOG_LEVELS) },
  timeline: { flag: 'timeline', parse: str(true) },
};

/**
 * A setting's key in a config file (config.json, --config): snake_case, the flag with '-' → '_'
 * (batch_size for batchSize), like every JSON document tfjs-ddp writes.
 */
export function fileKey(key: Key): string {
  return TRAIN_FIELDS[key].flag.replace(/-/g, '_');
}

/** `config` as a config file holds it (config.json): snake_case keys, in TRAIN_FIELDS order. */
export function configToFile(config: TrainConfig): Record<string, unknown> {
  return Object.fromEntries((Object.keys(TRAIN_FIELDS) as Key[]).map((k) => [fileKey(k), config[k]]));
}

/**
 * TFJS_DDP_BATCH_SIZE for batchSize, etc.; TFJS_DDP_DATA is also accepted for dataDir, as it was
 * before task modules, so the data module's variable is TFJS_DDP_DATA_MODULE.
 */
export function envName(key: Key): string {
  if (key === 'data') return 'TFJS_DDP_DATA_MODULE';
  return `TFJS_DDP_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

export interface ConfigLayers {
  /** Parsed JSON of --config: snake_case keys (fileKey), or the TrainConfig keys of older config.json files. */
  file?: Record<string, unknown>;
  filePath?: string;
  env?: Record<string, string | undefined>;
  /** Flag values by TrainConfig key (strings as typed, or already-typed values). */
  flags?: Partial<Record<Key, unknown>>;
  /** How messages name a value of `flags`: `--batch-size` (default), or `train(): batchSize` for the library's options. */
  flagNames?: 'cli' | 'library';
}

export interface ResolvedConfig {
  config: TrainConfig;
  /** Where each value came from, for the log and config.json. */
  sources: Record<Key, Source>;
}

/**
 * Merges the layers over the defaults and the chosen preset, validating every value.
 * @throws DdpError E_CONFIG quoting the bad value and where it came from.
 */
export function resolveTrainConfig(layers: ConfigLayers = {}): ResolvedConfig {
  const keys = Object.keys(TRAIN_FIELDS) as Key[];
  const env = layers.env ?? {};
  const raw: Partial<Record<Key, { value: unknown; source: Source; where: string }>> = {};
  const file = layers.filePath ?? 'the config file';
  if (layers.file) {
    // Config files use snake_case keys (fileKey). Runs written before that have a config.json with
    // the camelCase TrainConfig keys: still accepted, so that `train --resume` continues them and
    // such a file still works as --config.
    const byFileKey = new Map(keys.flatMap((k) => [[fileKey(k), k] as const, [k as string, k] as const]));
    const spelled: Partial<Record<Key, string>> = {};
    for (const name of Object.keys(layers.file)) {
      const k = byFileKey.get(name);
      if (k === undefined) throw new DdpError('E_CONFIG', `unknown key "${name}" in ${file}`, `valid keys: ${keys.map(fileKey).join(', ')}`);
      const other = spelled[k];
      if (other !== undefined) throw new DdpError('E_CONFIG', `${file} gives "${other}" and "${name}": both are the setting ${fileKey(k)}`, `keep only "${fileKey(k)}"`);
      spelled[k] = name;
      const where = name === fileKey(k) ? `"${name}" in ${file}` : `"${name}" (now "${fileKey(k)}") in ${file}`;
      raw[k] = { value: layers.file[name], source: 'config file', where };
    }
  }
  for (const k of keys) {
    const name = envName(k);
    const v = env[name] ?? (k === 'dataDir' ? env['TFJS_DDP_DATA'] : undefined);
    if (v !== undefined && v !== '') raw[k] = { value: v, source: 'environment', where: `environment variable ${name}` };
  }
  // A message starts with where its first value came from; a second value is named alone.
  const library = layers.flagNames === 'library';
  const prefix = library ? 'train(): ' : '';
  const name = (k: Key): string => (library ? k : `--${TRAIN_FIELDS[k].flag}`);
  for (const k of keys) {
    const v = layers.flags?.[k];
    if (v !== undefined) raw[k] = { value: v, source: 'flag', where: prefix + name(k) };
  }
  const presetEntry = raw.preset;
  const preset = presetEntry ? (TRAIN_FIELDS.preset.parse(presetEntry.value, presetEntry.where) as PresetName) : DEFAULT_TRAIN_CONFIG.preset;
  const config = { ...DEFAULT_TRAIN_CONFIG, ...PRESET_VALUES[preset], preset } as Record<Key, unknown>;
  const sources = Object.fromEntries(keys.map((k) => [k, k in PRESET_VALUES[preset] ? 'preset' : 'default'])) as Record<Key, Source>;
  for (const k of keys) {
    const entry = raw[k];
    if (entry === undefined) continue;
    config[k] = TRAIN_FIELDS[k].parse(entry.value, entry.where);
    sources[k] = entry.source;
  }
  const c = config as unknown as TrainConfig;
  if (c.microBatch !== 'auto' && c.batchSize !== 'auto' && c.microBatch > c.batchSize) {
    throw new DdpError('E_CONFIG', `${prefix}${name('microBatch')} ${c.microBatch} is larger than ${name('batchSize')} ${c.batchSize}`, 'use a micro-batch ≤ the global batch');
  }
  if (c.workers !== null && c.batchSize !== 'auto' && c.workers > c.batchSize) {
    throw new DdpError('E_CONFIG', `${prefix}${name('workers')} ${c.workers} is more than ${name('batchSize')} ${c.batchSize}: some workers would get no samples`);
  }
  return { config: c, sources };
}
