// What a RemoteWorkerGroup is built from, and the shapes its parts pass around: the options (the
// control server, the launcher's hooks, the deadlines), a rank's reply, and the monotonic clock that
// every deadline and liveness judgement reads (a wall-clock jump changes none of them).
import type { RankTraceSink, SecurityReport, Server, WorkerSettings, WorkerToCoordinator } from '@tfjs-ddp/core';
import type { LoopLogger } from '../loop/train-events';

export interface RemoteGroupOptions {
  server: Server;
  worldSize: number;
  settingsFor(rank: number): WorkerSettings;
  version: string;
  log: LoopLogger;
  rendezvousTimeoutMs: number;
  /** Polled while waiting for workers to join: a signal's name ends the wait (E_CLOSED), the joined workers told to stop. */
  stopRequested?: () => string | null;
  stepTimeoutMs: number;
  /** Compare the ranks' weight checksums every this many steps (and at every save). */
  checksumEvery: number;
  /**
   * Starts a new process for `rank`, which joins like the first did: how a rank that died, stalled
   * or whose backend crashed is replaced. The old process is waited for (it was told to stop), or
   * with `kill` killed at once (it stalled). Without it (workers on other hosts) a lost rank ends
   * the run.
   */
  respawn?: (rank: number, kill: boolean) => Promise<void>;
  /** The last lines of a local rank's log, for the account of a lost rank. */
  logTail?: (rank: number) => string[];
  /** Ranks the run may replace in all (--max-restarts); default 3. */
  maxRestarts?: number;
  /**
   * Workers on other hosts (no respawn): the fewest ranks the run goes on with when some are lost
   * (--min-workers); default worldSize, i.e. a lost rank ends the run. Workers that join later are
   * taken in at a step boundary, up to worldSize.
   */
  minWorkers?: number;
  /**
   * How long a worker being taken in may answer no ping while the ring is rewired and it is synced
   * before its join is undone: default SILENCE_MS (10 s); after its hello its loop is idle.
   */
  joinerSilenceMs?: number;
  /** Allow several ranks of one host on one GPU adapter (--share-gpu). */
  shareGpu?: boolean;
  /** How the sockets are secured, and the coordinator's own count of refused connections. */
  security?: { mode: SecurityReport['security']; rejectedConnections: () => number };
  /**
   * Where the ranks' timeline spans go (--timeline), converted to this process's trace clock with
   * each worker's clock offset, measured when it joins. The workers send spans only when their
   * settings say `timeline`.
   */
  trace?: RankTraceSink;
}

export type Reply = { rank: number; msg: WorkerToCoordinator; binary: Uint8Array[] };
export type StepDone = Extract<WorkerToCoordinator, { type: 'step-done' }>;
export type Hello = Extract<WorkerToCoordinator, { type: 'hello' }>;
export type JoinMsg = Extract<WorkerToCoordinator, { type: 'join' }>;

/** Liveness and deadlines on a monotonic clock: a wall-clock jump changes none of them. */
export const now = (): number => performance.now();
