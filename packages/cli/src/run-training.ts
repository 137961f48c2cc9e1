// runTraining: what `train` and `coordinator` (and the library's train()) do once the settings are
// resolved and the workers can be started: open the run directory (refused when it holds anything,
// locked while the run writes), config.json, train.log, TensorBoard, the timeline, progress, signals,
// the coordinator's step loop, the final message and report.html.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { configToFile, DdpError, type RankTraceSink, type TrainConfig } from '@tfjs-ddp/core';
import {
  CheckpointStore,
  RunDir,
  TensorBoardSink,
  Timeline,
  makeDefaultRunDir,
  wholeLineDestination,
  runTrainLoop,
  writeReport,
  type Resume,
  type RunSummary,
  type TrainEvent,
} from '@tfjs-ddp/coordinator';
import type { CliIo } from './command';
import type { StartedGroup } from './groups';
import { jsonLinesProgress, ttyProgress } from './progress';
import { CLI_VERSION } from './version';

/** What a caller of runTraining other than the CLI hears and says (the library's train()). */
export interface RunHooks {
  onEvent?: (e: TrainEvent) => void;
  /** Aborting stops the run at the next step boundary, as Ctrl-C does (checkpoint, model, summary). */
  signal?: AbortSignal;
  /** The run's summary, when its loop ended (completed or stopped). */
  onSummary?: (s: RunSummary) => void;
  /** A new run in a --run-dir that holds anything moves that aside instead of being refused (--overwrite). */
  overwrite?: boolean;
  /** The command that continues a stopped run (default `tfjs-ddp train`; a multi-node run's is `tfjs-ddp coordinator`). */
  command?: string;
}

/**
 * Starts the run's workers: `trace` is where the ranks' timeline spans go (--timeline; undefined
 * without a timeline), `stopRequested` a signal's name once the user asked to stop (it ends a wait
 * for workers).
 */
export type StartGroup = (
  runDir: RunDir,
  log: Logger,
  trace: RankTraceSink | undefined,
  stopRequested: () => string | null,
) => Promise<StartedGroup>;

/** In the run directory: which --timeline file this run created, the one file its resumes append to. */
const TIMELINE_MARKER = '.timeline.json';

/**
 * Runs a training with the workers `start` provides: run directory, logs, progress, signals, the
 * coordinator's step loop, and the final message. Shared by `train` and `coordinator`.
 */
export async function runTraining(
  config: TrainConfig,
  sources: Record<string, string>,
  io: CliIo,
  start: StartGroup,
  resume?: Resume,
  hooks: RunHooks = {},
): Promise<number> {
  // Refuses a directory that holds anything (or another live run's), and a new run's existing
  // --timeline file, before anything is written.
  if (resume === undefined && config.timeline !== null) Timeline.checkNew(config.timeline);
  const runDir = new RunDir(config.runDir ?? makeDefaultRunDir(), {
    resume: resume !== undefined,
    ...(resume !== undefined ? { resumeStep: resume.loop.step } : {}),
    overwrite: hooks.overwrite === true,
  });
  try {
    for (const note of runDir.notes) io.stderr.write(`tfjs-ddp: ${note}\n`);
    return await runInRunDir(runDir, config, sources, io, start, resume, hooks);
  } finally {
    runDir.close(); // the lock; a SIGKILL leaves it, and the next run takes it over as stale
  }
}

async function runInRunDir(
  runDir: RunDir,
  config: TrainConfig,
  sources: Record<string, string>,
  io: CliIo,
  start: StartGroup,
  resume: Resume | undefined,
  hooks: RunHooks,
): Promise<number> {
  // config.json is itself a valid --config file: it reproduces the run in a new directory.
  const configFile = configToFile({ ...config, runDir: null });
  runDir.writeJson('config.json', configFile);
  const log = pino(
    { level: config.logLevel, base: { role: 'coordinator', rank: null, pid: process.pid } },
    wholeLineDestination(runDir.file('train.log')),
  );
  log.info(
    {
      config,
      sources,
      version: CLI_VERSION,
      ...(resume !== undefined ? { resumed_from: { checkpoint: resume.from, step: resume.loop.step } } : {}),
    },
    'run starts',
  );
  for (const note of runDir.notes) log.info({ note }, 'run directory opened');
  // Every metric event also goes to tensorboard/, one new event file per process (a resume adds one).
  runDir.addSink(TensorBoardSink.open(runDir.file('tensorboard'), { lr: config.lr }));
  // --timeline FILE: a Chrome trace of every rank's phases and the coordinator's. A new run never
  // writes over an existing file; a resume appends to the one its run created (TIMELINE_MARKER).
  let timeline: Timeline | null = null;
  try {
    if (config.timeline !== null) {
      const file = resolve(config.timeline);
      const own = resume !== undefined && readTimelineMarker(runDir) === file;
      timeline = Timeline.open(file, { append: own });
      if (!own) runDir.writeJson(TIMELINE_MARKER, { file });
    }
  } catch (e) {
    runDir.closeSinks();
    throw e;
  }
  const coordinatorTrace = timeline?.coordinator();
  const rankTrace: RankTraceSink | undefined =
    timeline === null ? undefined : (rank, spans, from) => timeline.rank(rank, spans, from);
  if (timeline !== null) log.info({ file: timeline.file }, 'writing the timeline');

  const tty = (io.stdout as { isTTY?: boolean }).isTTY === true;
  const progress = tty ? ttyProgress(io.stdout as NodeJS.WriteStream) : jsonLinesProgress(io.stdout);
  let stop: string | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop !== null) process.exit(signal === 'SIGINT' ? 130 : 143); // a second Ctrl-C: leave now
    stop = signal;
    io.stderr.write(
      `tfjs-ddp: ${signal}: stopping after the current step and saving (press Ctrl-C again to quit at once)\n`,
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const onAbort = () => {
    stop ??= 'abort';
  };
  hooks.signal?.addEventListener('abort', onAbort);
  if (hooks.signal?.aborted === true) onAbort();
  try {
    coordinatorTrace?.begin('start the workers');
    const { group, shutdown } = await start(runDir, log, rankTrace, () => stop);
    coordinatorTrace?.end({ workers: group.worldSize });
    const ignored = ignoredSgdFlags(sources, group.describe()[0]?.optimizer);
    if (ignored !== null) {
      io.stderr.write(`tfjs-ddp: warning: ${ignored}\n`);
      log.warn({ optimizer: group.describe()[0]?.optimizer }, ignored);
    }
    /** Why the run ended, when it failed: the workers' last log line says it. */
    let failure: string | undefined;
    try {
      const summary = await runTrainLoop({
        config,
        group,
        runDir,
        log,
        onEvent: (e) => {
          // The one warning of a run whose step is not repeatable (train.log has it too).
          if (e.type === 'audit-off') io.stderr.write(`tfjs-ddp: ${e.message}\n`);
          progress.event(e);
          hooks.onEvent?.(e);
        },
        stopRequested: () => stop,
        checkpoints: {
          store: new CheckpointStore(runDir.path, config.keepCheckpoints),
          every: config.checkpointEvery,
          extraFiles: { 'config.json': new TextEncoder().encode(`${JSON.stringify(configFile, null, 2)}\n`) },
        },
        ...(resume !== undefined ? { resume } : {}),
        ...(coordinatorTrace !== undefined ? { trace: coordinatorTrace } : {}),
      });
      progress.stop();
      hooks.onSummary?.(summary);
      const acc = summary.test_acc === null ? 'n/a' : summary.test_acc.toFixed(4);
      if (summary.status === 'interrupted') {
        io.stderr.write(
          `tfjs-ddp: stopped by ${String(stop)} at step ${summary.steps}; metrics, summary, the model and a checkpoint of this step are in ${runDir.path}; ` +
            `continue with '${hooks.command ?? 'tfjs-ddp train'} --resume ${runDir.path}'\n`,
        );
        return stop === 'SIGTERM' ? 143 : 130;
      }
      io.stderr.write(
        `tfjs-ddp: done: ${summary.steps} steps, test accuracy ${acc}; results in ${runDir.path}\n`,
      );
      return 0;
    } catch (e) {
      failure = e instanceof Error ? e.message : String(e);
      throw e;
    } finally {
      coordinatorTrace?.begin('stop the workers');
      await shutdown(failure);
      coordinatorTrace?.end();
    }
  } catch (e) {
    progress.stop();
    coordinatorTrace?.mark('failed', { error: e instanceof Error ? e.message : String(e) });
    log.error({ err: e }, 'run failed');
    runDir.writeSummary({ ...failedSummary(config), error: e instanceof Error ? e.message : String(e) });
    // Ctrl-C (or SIGTERM) before the workers were all there: the wait ended, nothing to save.
    if ((stop === 'SIGINT' || stop === 'SIGTERM') && e instanceof DdpError && e.code === 'E_CLOSED') {
      io.stderr.write(`tfjs-ddp: ${e.message}\n`);
      return stop === 'SIGTERM' ? 143 : 130;
    }
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    hooks.signal?.removeEventListener('abort', onAbort);
    timeline?.close();
    try {
      runDir.closeSinks(); // flushes and fsyncs the event file, also when the run failed
    } catch (e) {
      log.warn({ err: e }, 'closing the TensorBoard event file failed'); // the run's own error, if any, goes on
    }
    // Last, from the files just written: report.html, also for a failed run.
    try {
      const report = writeReport(runDir.path).file;
      log.info({ file: report }, 'report written');
      // Where to look: the report (any browser, no network), and the timeline when there is one.
      io.stderr.write(
        `tfjs-ddp: report: ${report}${timeline !== null ? `; timeline: ${timeline.file} (open it in https://ui.perfetto.dev)` : ''}\n`,
      );
    } catch (e) {
      log.warn({ err: e }, 'writing report.html failed'); // the run's own error, if any, goes on
    }
    log.flush();
  }
}

/** The timeline file the run in `runDir` created, or null. */
function readTimelineMarker(runDir: RunDir): string | null {
  try {
    const v = JSON.parse(readFileSync(runDir.file(TIMELINE_MARKER), 'utf8')) as { file?: unknown };
    return typeof v.file === 'string' ? v.file : null;
  } catch {
    return null; // no marker: a run from before markers, or one without a timeline
  }
}

function failedSummary(config: TrainConfig): RunSummary {
  return {
    status: 'failed',
    backend: config.backend,
    device: 'unknown',
    workers: config.workers ?? 0,
    trainable_params: 0,
    global_batch: config.batchSize === 'auto' ? 0 : config.batchSize,
    micro_batch_per_rank: [],
    epochs: config.epochs,
    epochs_completed: 0,
    steps: 0,
    train_loss: null,
    train_acc: null,
    test_acc: null,
    samples_per_s: null,
    wall_s: 0,
    restarts: 0,
    oom_events: 0,
  };
}

/**
 * --lr and --momentum build the SGD of a model compiled without an optimizer; a task with its own
 * (`optimizer(ctx)`, or `compile()`'s) trains at that one's rate. Says so when the user set either.
 */
export function ignoredSgdFlags(
  sources: Record<string, string>,
  optimizer: string | null | undefined,
): string | null {
  if (optimizer === null || optimizer === undefined) return null;
  const set = (['lr', 'momentum'] as const).filter(
    (k) => sources[k] === 'flag' || sources[k] === 'environment',
  );
  if (set.length === 0) return null;
  return `${set.map((k) => `--${k}`).join(' and ')} ${set.length === 1 ? 'does' : 'do'} not apply: the model module brings its own optimizer (${optimizer}), which trains at its own learning rate: set that one in the module (optimizer(ctx) or compile())`;
}
