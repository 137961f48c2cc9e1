// Starts N worker processes on this machine (single-node mode) by the entry path the CLI gives,
// each with its own environment (LOCAL_RANK, and CUDA_VISIBLE_DEVICES + TF_FORCE_GPU_ALLOW_GROWTH
// for GPU workers), appends each one's stderr to <run-dir>/worker-<i>.log (with a marker line at a
// resume and a restart), keeps its last line for error messages, reports exits, and makes sure none
// outlives the coordinator.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { diskFullError, isDiskFull } from '@tfjs-ddp/core';

export interface LaunchSpec {
  count: number;
  /** Program and arguments of one worker (e.g. node, [cli.js, 'worker', '--join', addr]). */
  command: string;
  args: string[];
  /** Extra environment for worker i. */
  envFor(i: number): Record<string, string>;
  /** Directory for worker-<i>.log files (appended to, never truncated). */
  logDir: string;
  /** A resumed run: the step it goes on from (null: unknown); each worker log gets a marker line first. */
  resumedFrom?: number | null;
}

export interface WorkerExit {
  index: number;
  pid: number;
  code: number | null;
  signal: string | null;
  lastLine: string | null;
}

/** Lines of each worker's log kept for error messages. */
const TAIL_LINES = 5;

export class LocalWorkers {
  private readonly procs: ChildProcess[] = [];
  private readonly logs: WriteStream[] = [];
  private readonly tails: string[][] = [];
  private readonly exited = new Set<number>();
  private stopping = false;
  private readonly killOnExit = () => this.procs.forEach((p) => p.exitCode === null && p.kill('SIGKILL'));

  constructor(
    private readonly spec: LaunchSpec,
    private readonly onExit: (e: WorkerExit) => void,
  ) {
    process.on('exit', this.killOnExit);
    for (let i = 0; i < spec.count; i++) {
      // Appended: a resumed run's log goes on after the earlier processes' lines.
      const path = `${spec.logDir}/worker-${i}.log`;
      const log = createWriteStream(path, { flags: 'a' });
      // A full disk (or a removed directory) must not end the run from an unhandled 'error': the
      // log's later lines are lost, said once; the coordinator's own writes name the cause.
      log.once('error', (e) => {
        log.on('error', () => undefined);
        const what = isDiskFull(e)
          ? diskFullError(e, path, 'the log of worker').message
          : `cannot write ${path}: ${e.message}`;
        process.stderr.write(`tfjs-ddp: ${what}; this worker's further log lines are dropped\n`);
      });
      if (spec.resumedFrom !== undefined)
        log.write(
          markerLine(i, 'run resumed: the log goes on', {
            from_step: spec.resumedFrom,
            resumed_at: new Date().toISOString(),
          }),
        );
      this.logs.push(log);
      this.tails.push([]);
      this.start(i);
    }
  }

  private start(i: number): void {
    // The ipc channel lets a worker notice the coordinator's death (its 'disconnect' event) and exit.
    const p = spawn(this.spec.command, this.spec.args, {
      env: { ...process.env, ...this.spec.envFor(i), TFJS_DDP_LAUNCHED: '1' },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let partial = '';
    p.stderr!.on('data', (d: Buffer) => {
      this.logs[i]!.write(d);
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      const tail = this.tails[i]!;
      for (const l of lines) if (l.trim() !== '') tail.push(summarizeLine(l));
      tail.splice(0, Math.max(0, tail.length - TAIL_LINES));
    });
    p.on('exit', (code, signal) => {
      if (this.procs[i] === p) this.exited.add(i);
      if (!this.stopping || code !== 0)
        this.onExit({ index: i, pid: p.pid ?? -1, code, signal, lastLine: this.tails[i]!.at(-1) ?? null });
    });
    this.procs[i] = p;
    this.exited.delete(i);
  }

  /** The last lines worker `i` logged (pino lines as their message), oldest first. */
  tail(i: number): string[] {
    return [...(this.tails[i] ?? [])];
  }

  /**
   * Replaces worker `i` by a new process with the same command and environment (its log goes on in
   * worker-<i>.log): waits up to graceMs for the old one to exit (0: none), then kills it.
   */
  async restart(i: number, graceMs = 10_000): Promise<void> {
    const old = this.procs[i]!;
    if (old.exitCode === null && old.signalCode === null) {
      const gone = new Promise((r) => old.once('exit', r));
      await settledOrTimeout(gone, graceMs);
      if (old.exitCode === null && old.signalCode === null) {
        old.kill('SIGKILL');
        await gone;
      }
    }
    this.logs[i]!.write(markerLine(i, 'worker restarted by the coordinator', {}));
    this.tails[i] = [];
    this.start(i);
  }

  get pids(): number[] {
    return this.procs.map((p) => p.pid ?? -1);
  }

  /** Waits up to graceMs for the workers to exit by themselves, then SIGTERM, then SIGKILL. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    const alive = () => this.procs.filter((_, i) => !this.exited.has(i));
    const waitAll = (ms: number) =>
      settledOrTimeout(Promise.all(alive().map((p) => new Promise((r) => p.once('exit', r)))), ms);
    await waitAll(graceMs);
    alive().forEach((p) => p.kill('SIGTERM'));
    await waitAll(2000);
    alive().forEach((p) => p.kill('SIGKILL'));
    await waitAll(2000);
    await Promise.all(this.logs.map((l) => new Promise((r) => l.end(r))));
    process.off('exit', this.killOnExit);
  }
}

/**
 * Waits for `p` or `ms`, whichever comes first, and clears the timer: a pending timer keeps the
 * process alive, and every `train` once exited 5 s after its work was done, waiting on stop()'s grace.
 */
async function settledOrTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([p, new Promise((r) => (timer = setTimeout(r, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A line the launcher writes between a worker's own lines, as a pino JSON line (level info), so that
 * every line of worker-<i>.log parses for the tools that read it.
 */
function markerLine(rank: number, msg: string, fields: Record<string, unknown>): string {
  return `${JSON.stringify({ level: 30, time: Date.now(), pid: process.pid, role: 'launcher', rank, ...fields, msg })}\n`;
}

/** A pino JSON line becomes its msg (and error message); anything else is kept as is, shortened. */
function summarizeLine(line: string): string {
  try {
    const o = JSON.parse(line) as { msg?: string; err?: { message?: string } };
    if (o.msg !== undefined) return o.err?.message ? `${o.msg}: ${o.err.message}` : o.msg;
  } catch {
    // not JSON
  }
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
