// Which workers a run trains with, and how they are started: in this process (one worker), as N
// local processes over ipc:// (single-node mode), or by waiting for N workers to join a tcp://
// address (multi-node: srun, Kubernetes or by hand). Composition only; the logic lives in
// @tfjs-ddp/coordinator (launch, rendezvous) and @tfjs-ddp/worker (the engine).
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DdpError,
  makeSocketDir,
  shippedFile,
  sweepStaleSocketDirs,
  type RankTraceSink,
  type TrainConfig,
  type WorkerGroup,
  type WorkerSettings,
} from '@tfjs-ddp/core';
import { ZmqTransport } from '@tfjs-ddp/core/zmq';
import { LocalWorkers, RemoteWorkerGroup, type LoopLogger, type RunDir } from '@tfjs-ddp/coordinator';
import { InProcessGroup, createEngine, openTask, prepareTask, selectBackend, taskModules } from '@tfjs-ddp/worker';
import type { Logger } from 'pino';
import type { ResolvedSecurity } from './security';
import { CLI_VERSION } from './version';

/** The entry each local worker process runs (`tfjs-ddp worker --join …`): bin/ here, dist/cli.js in the package. */
export const CLI_BIN = shippedFile(import.meta.url, { source: '../bin/tfjs-ddp.js', bundle: './cli.js' });

export interface StartedGroup {
  group: WorkerGroup;
  /** Stops the workers (telling them why: the run's error, or 'done') and frees what the group holds. */
  shutdown(reason?: string): Promise<void>;
}

/** A GPU as nvidia-smi numbers it, with its PCI address (for Vulkan device selection). */
export interface LocalGpu {
  index: number;
  busId: string;
}

/** `nvidia-smi --query-gpu=index,pci.bus_id --format=csv,noheader` → the GPUs it lists. */
export function parseGpuList(csv: string): LocalGpu[] {
  return csv
    .split('\n')
    .map((l) => l.split(',').map((x) => x.trim()))
    .filter(([i, bus]) => /^\d+$/.test(i ?? '') && /^[0-9a-f]+:[0-9a-f]{2}:[0-9a-f]{2}\.[0-9a-f]$/i.test(bus ?? ''))
    .map(([i, bus]) => ({ index: Number(i), busId: bus! }));
}

/** GPUs nvidia-smi lists, or [] (no driver, no GPU). */
export function visibleGpus(): LocalGpu[] {
  try {
    return parseGpuList(
      execFileSync('nvidia-smi', ['--query-gpu=index,pci.bus_id', '--format=csv,noheader'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 10_000,
      }),
    );
  } catch {
    return [];
  }
}

/**
 * Mesa's device-select Vulkan layer (installed with mesa-vulkan-drivers, it wraps any driver) keeps
 * only the device at this PCI address: `DRI_PRIME=pci-DDDD_BB_DD_F!` (the `!` hides the others).
 * nvidia-smi writes the address as 00000000:3B:00.0.
 */
export function vulkanSelection(busId: string): string {
  const m = /^([0-9a-f]+):([0-9a-f]{2}):([0-9a-f]{2})\.([0-9a-f])$/i.exec(busId);
  if (m === null) throw new DdpError('E_INTERNAL', `not a PCI address: ${busId}`);
  return `pci-${m[1]!.slice(-4).padStart(4, '0')}_${m[2]}_${m[3]}_${m[4]}!`.toLowerCase();
}

/** The GPUs local workers use (in rank order), or null for CPU workers (one per core). */
export function gpuPlan(config: TrainConfig, gpus: LocalGpu[] = visibleGpus()): LocalGpu[] | null {
  if (config.backend !== 'auto' && config.backend !== 'tensorflow-gpu' && config.backend !== 'webgpu') return null;
  if (config.gpus !== null) {
    const wanted = config.gpus;
    const missing = wanted.filter((i) => !gpus.some((g) => g.index === i));
    // Without nvidia-smi (AMD, Intel, or none) --gpus can only set CUDA_VISIBLE_DEVICES.
    if (gpus.length > 0 && missing.length > 0) throw new DdpError('E_CONFIG', `--gpus ${wanted.join(',')}: nvidia-smi lists no GPU ${missing.join(', ')} (it lists ${gpus.map((g) => g.index).join(', ')})`);
    return wanted.map((i) => gpus.find((g) => g.index === i) ?? { index: i, busId: '' });
  }
  return gpus.length > 0 ? gpus : null;
}

/** The environment that puts local worker `i` on its GPU: CUDA for TensorFlow, Vulkan for WebGPU. */
export function gpuEnv(gpu: LocalGpu): Record<string, string> {
  return {
    CUDA_VISIBLE_DEVICES: String(gpu.index),
    TF_FORCE_GPU_ALLOW_GROWTH: 'true',
    ...(gpu.busId !== '' ? { DRI_PRIME: vulkanSelection(gpu.busId) } : {}),
  };
}

/** --workers, or auto: one per GPU to be used, else one per CPU core (webgpu without a GPU list: one adapter, one worker). */
export function workerCount(config: TrainConfig): number {
  if (config.workers !== null) return config.workers;
  const gpus = gpuPlan(config);
  if (gpus !== null) return gpus.length;
  return config.backend === 'webgpu' ? 1 : availableParallelism();
}

/**
 * What every worker of the run gets. With `workers` (the ranks the run starts with) and a numeric
 * global batch, the memory-fit search stops at a rank's share of that batch (or its share with
 * --min-workers ranks): a larger micro-batch would only be used after ranks are lost, and then
 * gradient accumulation covers the difference, while searching for it costs every start-up.
 */
export function workerSettings(config: TrainConfig, dataAddress: string | null, workers?: number): WorkerSettings {
  const ranks = Math.max(1, Math.min(workers ?? 1, config.minWorkers ?? Infinity));
  return {
    ...(workers !== undefined && typeof config.batchSize === 'number' ? { searchLimit: Math.ceil(config.batchSize / ranks) } : {}),
    lr: config.lr,
    momentum: config.momentum,
    resize: config.resize,
    pool: config.pool,
    seed: config.seed,
    batchSize: config.batchSize,
    microBatch: config.microBatch,
    memoryBudget: config.memoryBudget,
    memoryMargin: config.memoryMargin,
    backend: config.backend,
    dataDir: config.dataDir,
    verifyData: config.verifyData,
    dataAddress,
    // Twice the coordinator's step timeout and half a minute: when a rank stalls, the coordinator's
    // stall inspector (step timeout + a 5 s probe) names it and has the others leave the step before
    // any of them gives up waiting on the ring.
    allreduceTimeoutMs: config.stepTimeout * 2000 + 30_000,
    logLevel: config.logLevel,
    timeline: config.timeline !== null,
    task: { model: config.model, data: config.data },
    taskSettings: config.set,
  };
}

/** One worker in this process: no sockets at all. */
export async function startInProcess(
  config: TrainConfig,
  env: Record<string, string | undefined>,
  log: Logger,
  trace?: RankTraceSink,
): Promise<StartedGroup> {
  const backend = await selectBackend(config.backend, { env, log: (level, fields, msg) => log[level](fields, msg) });
  log.info({ backend }, 'backend selected');
  const settings = workerSettings(config, null);
  const task = await openTask(settings, 0, env);
  log.info({ ...task.modules, train: task.train.size, test: task.test?.size ?? 0 }, 'data loaded');
  const engine = await createEngine({ task, settings, backend, env, log });
  const group = await InProcessGroup.create([engine], trace !== undefined ? { trace } : {});
  return { group, shutdown: () => group.close() };
}

/** N worker processes on this machine, over ipc:// sockets in a private temporary directory. */
export async function startLocalProcesses(
  config: TrainConfig,
  count: number,
  runDir: RunDir,
  log: LoopLogger,
  /** Per rank, a micro-batch that replaces the search (a resumed run keeps its ranks' capacities). */
  capacities?: number[],
  trace?: RankTraceSink,
): Promise<StartedGroup> {
  // The data is checked here, once, before any worker starts: a missing or corrupt dataset is then
  // the data layer's own message (E_DATA_*), not "rank 1 failed during rendezvous"; and a download,
  // if needed, happens once into the cache instead of once per worker.
  const settings = workerSettings(config, null);
  await prepareTask(settings, process.env);
  log.info(taskModules(settings), 'data checked before the workers start');
  // Directories left by coordinators that were killed (SIGKILL leaves no chance to clean up) go first.
  const stale = sweepStaleSocketDirs(tmpdir(), 'tfjs-ddp-');
  if (stale.length > 0)
    log.info({ removed: stale }, 'removed socket directories of coordinators that are gone');
  const sockets = makeSocketDir(tmpdir(), 'tfjs-ddp-');
  const control = `ipc://${join(sockets, 'control')}`;
  const transport = new ZmqTransport();
  const server = await transport.server(control);
  const gpus = gpuPlan(config);
  let group: RemoteWorkerGroup | null = null;
  const workers = new LocalWorkers(
    {
      count,
      command: process.execPath,
      args: [CLI_BIN, 'worker', '--join', control, '--log-level', config.logLevel],
      envFor: (i) => ({
        RANK: String(i),
        LOCAL_RANK: String(i),
        WORLD_SIZE: String(count),
        // Local workers talk over ipc:// to a coordinator without CURVE: a key file in the shell's
        // environment (meant for multi-node runs) must not make them expect one.
        TFJS_DDP_KEY_FILE: '',
        ...(gpus !== null ? gpuEnv(gpus[i % gpus.length]!) : {}),
      }),
      logDir: runDir.path,
      ...(runDir.resumed !== null ? { resumedFrom: runDir.resumed.step } : {}),
    },
    (e) =>
      group?.reportFailure({
        kind: 'exited',
        rank: e.index,
        pid: e.pid,
        host: '',
        code: e.code,
        signal: e.signal,
        lastLine: e.lastLine,
      }),
  );
  log.info({ count, pids: workers.pids, control, gpus: gpus?.map((g) => ({ ...g, ...gpuEnv(g) })) ?? null }, 'workers launched');
  const shutdown = async (reason?: string) => {
    await group?.close(reason);
    await workers.stop();
    await server.close();
    rmSync(sockets, { recursive: true, force: true });
  };
  try {
    group = await RemoteWorkerGroup.rendezvous(
      {
        server,
        worldSize: count,
        settingsFor: (r) => ({ ...workerSettings(config, `ipc://${join(sockets, `ring-${r}`)}`, count), ...(capacities?.[r] !== undefined ? { microBatch: capacities[r] } : {}) }),
        version: CLI_VERSION,
        log,
        rendezvousTimeoutMs: config.joinTimeout * 1000,
        stepTimeoutMs: config.stepTimeout * 1000,
        checksumEvery: 50,
        respawn: (rank, kill) => workers.restart(rank, kill ? 0 : undefined),
        logTail: (rank) => workers.tail(rank),
        maxRestarts: config.maxRestarts,
        shareGpu: config.shareGpu,
        ...(trace !== undefined ? { trace } : {}),
      },
      (g) => (group = g),
    );
  } catch (e) {
    await shutdown(e instanceof Error ? e.message : String(e));
    throw e;
  }
  return { group, shutdown };
}

/** Waits for `worldSize` workers to join `listen` (tcp://HOST:PORT) from wherever they run. */
export async function startListening(
  config: TrainConfig,
  listen: string,
  worldSize: number,
  log: LoopLogger,
  security: ResolvedSecurity,
  trace?: RankTraceSink,
  /** Per rank, a micro-batch that replaces the search (a resumed run keeps its ranks' capacities). */
  capacities?: number[],
  /** A signal's name once the user asked to stop: ends the wait for workers. */
  stopRequested?: () => string | null,
): Promise<StartedGroup> {
  if (!/^tcp:\/\/.+:\d+$/.test(listen))
    throw new DdpError('E_CONFIG', `--listen ${listen} is not tcp://HOST:PORT`);
  const transport = new ZmqTransport(security.curve ? { curve: security.curve } : {});
  const server = await transport.server(listen);
  log.info({ listen: server.address, worldSize, security: security.mode }, 'waiting for workers');
  try {
    const group = await RemoteWorkerGroup.rendezvous({
      server,
      worldSize,
      settingsFor: (r) => ({ ...workerSettings(config, null, worldSize), ...(capacities?.[r] !== undefined ? { microBatch: capacities[r] } : {}) }),
      version: CLI_VERSION,
      log,
      rendezvousTimeoutMs: config.joinTimeout * 1000,
      ...(stopRequested !== undefined ? { stopRequested } : {}),
      stepTimeoutMs: config.stepTimeout * 1000,
      checksumEvery: 50,
      shareGpu: config.shareGpu,
      minWorkers: config.minWorkers ?? worldSize,
      security: { mode: security.mode, rejectedConnections: () => transport.rejectedConnections() },
      ...(trace !== undefined ? { trace } : {}),
    });
    return {
      group,
      shutdown: async (reason?: string) => {
        await group.close(reason);
        await server.close();
      },
    };
  } catch (e) {
    await server.close();
    throw e;
  }
}
