// Builds a rank's engine with its capacity: the micro-batch it was given, or (auto) the largest one
// the memory-fit search confirms in throw-away child processes before this process computes
// anything. Shared by the in-process worker and the worker process.
import { formatBytes, searchLimit, type MemoryFitReport, type WorkerSettings } from '@tfjs-ddp/core';
import type { BackendInfo } from '../backend/select-backend';
import { fitMicroBatch } from '../memory/fit-micro-batch';
import type { Task } from '../task/task-runtime';
import { parseInjectOom, WorkerEngine } from './worker-engine';

export type EngineSettings = Pick<WorkerSettings, 'lr' | 'momentum' | 'resize' | 'pool' | 'seed' | 'batchSize' | 'microBatch' | 'searchLimit' | 'memoryBudget' | 'memoryMargin' | 'batchNorm' | 'dataDir' | 'verifyData' | 'task' | 'taskSettings'>;

export interface CreateEngineArgs {
  /** The model and data to train (task/open-task.ts). */
  task: Task;
  /** This host's data directory when it overrides the settings' (a remote worker's --data-dir). */
  dataDir?: string | null;
  settings: EngineSettings;
  backend: BackendInfo;
  env: Record<string, string | undefined>;
  log?: { info(obj: object, msg: string): void };
}

export async function createEngine(a: CreateEngineArgs): Promise<WorkerEngine> {
  const { settings: s, backend } = a;
  let memoryFit: MemoryFitReport | null = null;
  let microBatch: number;
  if (s.microBatch === 'auto') {
    const fit = await fitMicroBatch({
      backend: backend.chosen,
      resize: s.resize,
      pool: s.pool,
      seed: s.seed,
      batchNorm: s.batchNorm ?? true,
      dataDir: a.dataDir ?? s.dataDir,
      verifyData: s.verifyData,
      ...(s.task !== undefined ? { task: s.task } : {}),
      ...(s.taskSettings !== undefined ? { taskSettings: s.taskSettings } : {}),
      budgetBytes: s.memoryBudget,
      margin: s.memoryMargin,
      maxMicroBatch: s.searchLimit ?? searchLimit(s.batchSize),
      env: a.env as NodeJS.ProcessEnv,
    });
    microBatch = fit.microBatch;
    memoryFit = {
      budgetBytes: fit.budgetBytes,
      usableBytes: fit.usableBytes,
      baseBytes: fit.model?.baseBytes ?? null,
      bytesPerSample: fit.model?.bytesPerSample ?? null,
      trials: fit.trials.map((t) => ({ microBatch: t.microBatch, peakBytes: t.peakBytes, ran: t.ran })),
      capped: fit.capped,
      searchMs: Math.round(fit.ms),
    };
    a.log?.info(
      { microBatch, capped: fit.capped, budget: formatBytes(fit.budgetBytes), perSample: fit.model ? formatBytes(fit.model.bytesPerSample) : null, trials: memoryFit.trials, searchMs: memoryFit.searchMs },
      'memory-fit search done',
    );
  } else {
    microBatch = s.microBatch;
  }
  return new WorkerEngine(a.task, { ...s, microBatch }, backend, {
    memoryFit,
    injectOom: parseInjectOom(a.env['TFJS_DDP_INJECT_OOM']),
    injectCrash: parseInjectOom(a.env['TFJS_DDP_INJECT_CRASH'], 'TFJS_DDP_INJECT_CRASH'),
    injectGpuOom: parseInjectOom(a.env['TFJS_DDP_INJECT_GPU_OOM'], 'TFJS_DDP_INJECT_GPU_OOM'),
    injectDeviceLost: parseInjectOom(a.env['TFJS_DDP_INJECT_DEVICE_LOST'], 'TFJS_DDP_INJECT_DEVICE_LOST'),
    injectNan: parseInjectOom(a.env['TFJS_DDP_INJECT_NAN'], 'TFJS_DDP_INJECT_NAN'),
    injectBitflip: parseInjectOom(a.env['TFJS_DDP_INJECT_BITFLIP'], 'TFJS_DDP_INJECT_BITFLIP'),
  });
}
