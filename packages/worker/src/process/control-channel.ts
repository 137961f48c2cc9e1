// A worker's end of the control plane. One loop reads every message from the coordinator as soon as
// the event loop has a turn, so that some are handled at once, whatever the worker is busy with:
// 'ping' and 'probe' are answered with where the worker is (the coordinator takes a rank that answers
// nothing for a while for lost, and a worker that hears nothing takes the coordinator for gone), and
// an 'abort' of the step in progress runs its hook (which closes the ring sockets, so a wait in the
// all-reduce ends). Everything else, the aborts included, queues for the worker's main loop. Used by
// worker-process.ts.
import { COORDINATOR_SILENCE_MS, DdpError, PING_INTERVAL_MS, decodeControl, encodeControl, isDdpError, type Client, type CoordinatorToWorker, type DecodedControl, traceClock, type StepPhase, type WorkerToCoordinator } from '@tfjs-ddp/core';

type Incoming = DecodedControl<CoordinatorToWorker>;

/** Longest receive of the reading loop: short, so that close() is noticed soon. */
const READ_SLICE_MS = 1_000;
/** How often the silence watchdog looks. */
const WATCH_MS = 1_000;

export interface ControlChannelOptions {
  /** Called once when the coordinator has been silent for silenceMs of running event loop. */
  onSilence?: (silentMs: number) => void;
  /** Default COORDINATOR_SILENCE_MS. */
  silenceMs?: number;
  /** How often the watchdog looks (default 1 s); a gap of 3 looks means the event loop was blocked. */
  watchMs?: number;
  /**
   * Silent this long, the worker tells the coordinator where it is, and again after as long (default
   * 3 pings' worth: 6 s). A coordinator restarted on the same address does not know this worker and
   * tells it to stop, so it leaves in seconds instead of after silenceMs; the run's own coordinator,
   * only slow or paused, takes it as the answer to a ping.
   */
  nudgeMs?: number;
}

export class ControlChannel {
  private readonly queue: Incoming[] = [];
  private waiter: (() => void) | null = null;
  private failure: unknown = null;
  private silent: DdpError | null = null;
  private closed = false;
  private lastHeard = performance.now();
  private lastWatch = performance.now();
  private lastNudge = 0;
  private watchdog: NodeJS.Timeout | null = null;
  private readonly aborted = new Set<number>();
  private where: { step: number | null; phase: StepPhase } = { step: null, phase: 'idle' };
  /** Called when an 'abort' for the step in progress arrives. */
  onAbort: ((step: number) => void) | null = null;
  /** Called when a 'stop' arrives while a step or collective is in progress (it may wait on the ring). */
  onStop: (() => void) | null = null;
  /** Whether the coordinator said 'stop' (the message itself still queues for the main loop). */
  stopRequested = false;

  constructor(
    private readonly client: Client,
    private readonly o: ControlChannelOptions = {},
  ) {
    void this.readLoop();
  }

  /** Starts watching for the coordinator's silence (once it pings: after the welcome). */
  armWatchdog(): void {
    this.lastHeard = this.lastWatch = performance.now();
    this.watchdog ??= setInterval(() => this.watch(), this.o.watchMs ?? WATCH_MS);
    this.watchdog.unref();
  }

  /** Set once the coordinator was silent too long: the error to exit with. */
  get silence(): DdpError | null {
    return this.silent;
  }

  send(m: WorkerToCoordinator, binary: Uint8Array[] = []): Promise<void> {
    return this.client.send(encodeControl(m, binary));
  }

  /** Records where this rank is, and tells the coordinator when a step enters a phase. */
  phase(step: number | null, phase: StepPhase): void {
    this.where = { step, phase };
    if (phase !== 'idle') void this.send({ type: 'progress', step, phase }).catch(() => undefined);
  }

  /** Whether the coordinator asked every rank to leave `step` (and the abort was not answered yet). */
  abortRequested(step: number): boolean {
    return this.aborted.has(step);
  }

  /** The abort of `step` is answered: a replay of the same step must not see it. */
  abortAnswered(step: number): void {
    this.aborted.delete(step);
  }

  /**
   * The next message for the main loop.
   * @throws DdpError E_TIMEOUT after timeoutMs; the reading loop's failure (E_PROTOCOL, E_CLOSED)
   */
  async next(timeoutMs: number): Promise<Incoming> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const m = this.queue.shift();
      if (m !== undefined) return m;
      if (this.failure !== null) throw this.failure;
      const left = deadline - performance.now();
      if (left <= 0) throw new DdpError('E_TIMEOUT', `no request from the coordinator in ${Math.round(timeoutMs / 1000)} s`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = null;
    }
  }

  private wake(): void {
    this.waiter?.();
  }

  private async readLoop(): Promise<void> {
    while (!this.closed) {
      let m: Incoming;
      try {
        m = decodeControl<CoordinatorToWorker>(await this.client.recv(READ_SLICE_MS));
      } catch (e) {
        if (isDdpError(e, 'E_TIMEOUT')) continue;
        if (!this.closed) this.failure = e;
        this.wake();
        return;
      }
      this.lastHeard = performance.now();
      const { msg } = m;
      // A ping is answered too: the coordinator takes a rank that answers none for a while for lost.
      if (msg.type === 'ping' || msg.type === 'probe') {
        void this.send({ type: 'progress', ...this.where }).catch(() => undefined);
        continue;
      }
      if (msg.type === 'clock') {
        void this.send({ type: 'clock', now: traceClock() }).catch(() => undefined);
        continue;
      }
      if (msg.type === 'abort') {
        this.aborted.add(msg.step);
        if (this.where.step === msg.step && this.where.phase !== 'idle') this.onAbort?.(msg.step);
      }
      if (msg.type === 'stop') {
        this.stopRequested = true;
        if (this.where.phase !== 'idle') this.onStop?.();
      }
      this.queue.push(m);
      this.wake();
    }
  }

  /**
   * The coordinator pings every PING_INTERVAL_MS. Only time during which this process's event loop
   * ran counts as silence: after a long synchronous computation (a wasm step) the pings that came
   * meanwhile have not been read yet, so the count starts again.
   */
  private watch(): void {
    const now = performance.now();
    const blocked = now - this.lastWatch > 3 * (this.o.watchMs ?? WATCH_MS);
    this.lastWatch = now;
    if (blocked) {
      this.lastHeard = Math.max(this.lastHeard, now);
      return;
    }
    const silent = now - this.lastHeard;
    const nudge = this.o.nudgeMs ?? 3 * PING_INTERVAL_MS;
    if (silent > nudge && now - Math.max(this.lastNudge, this.lastHeard) > nudge && this.silent === null) {
      this.lastNudge = now;
      void this.send({ type: 'progress', ...this.where }).catch(() => undefined);
    }
    if (silent > (this.o.silenceMs ?? COORDINATOR_SILENCE_MS) && this.silent === null) {
      this.silent = new DdpError('E_TIMEOUT', `the coordinator has not been heard from for ${Math.round(silent / 1000)} s: it is gone or stuck`, 'this worker exits; continue the run with tfjs-ddp coordinator --resume RUN_DIR (tfjs-ddp train --resume RUN_DIR for a run of one machine)');
      this.failure ??= this.silent;
      this.o.onSilence?.(silent);
      this.wake();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.watchdog !== null) clearInterval(this.watchdog);
    await this.client.close().catch(() => undefined);
  }
}
