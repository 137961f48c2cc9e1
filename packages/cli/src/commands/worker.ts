// `tfjs-ddp worker --join ADDRESS`: one worker process. Started by the coordinator for single-node
// runs, or by srun / Kubernetes / hand for multi-node ones, where torchrun's and Slurm's variables
// are honoured: MASTER_ADDR + MASTER_PORT give the address, RANK or SLURM_PROCID the rank,
// LOCAL_RANK or SLURM_LOCALID the local rank. Logs are pino JSON lines on stderr.
import { DdpError, LOG_LEVELS, removeSocketDirOwnedBy } from '@tfjs-ddp/core';
import { ZmqTransport } from '@tfjs-ddp/core/zmq';
import { runWorkerProcess } from '@tfjs-ddp/worker';
import { pino } from 'pino';
import { defineCommand } from '../command';
import { SECURITY_OPTIONS, resolveSecurity } from '../security';
import { CLI_VERSION } from '../version';

function intOrNull(v: string | undefined): number | null {
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : null;
}

/** DIR of a local coordinator's control address, ipc://DIR/control; null for any other address. */
function localSocketDir(join: string): string | null {
  return /^ipc:\/\/(.+)\/control$/.exec(join)?.[1] ?? null;
}

/** Whether process `pid`, this process's parent at start, has exited (we were reparented, or it is gone). */
function parentGone(pid: number): boolean {
  if (process.ppid !== pid) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export const workerCommand = defineCommand({
  name: 'worker',
  summary: 'Run one worker that joins a coordinator',
  description: [
    'Joins the coordinator at --join (default tcp://$MASTER_ADDR:$MASTER_PORT), receives the run\'s',
    'settings, trains its share of every batch and all-reduces gradients with its ring neighbours.',
    'Rank: $RANK or $SLURM_PROCID if set (else the coordinator assigns one); local rank: $LOCAL_RANK',
    'or $SLURM_LOCALID. Its data plane listens on the interface that reaches the coordinator, on an',
    'ephemeral port, unless --data-address says otherwise. Joining a non-loopback address needs the',
    'run key (--key-file, TFJS_DDP_KEY_FILE: the same file as the coordinator\'s) or --insecure.',
  ].join('\n'),
  options: {
    join: { type: 'string', valueName: 'ADDRESS', description: 'coordinator address, tcp://HOST:PORT or ipc://PATH' },
    'data-dir': { type: 'string', valueName: 'DIR', description: "this host's Fashion-MNIST directory (default: the coordinator's setting)" },
    'data-address': { type: 'string', valueName: 'ADDRESS', description: 'where this worker receives ring traffic (tcp://HOST:PORT, port 0 = any)' },
    'log-level': { type: 'string', valueName: 'LEVEL', description: 'log level on stderr', choices: LOG_LEVELS, default: 'info' },
    ...SECURITY_OPTIONS,
  },
  async run(values, io) {
    const env = io.env;
    const join = values.join ?? (env['MASTER_ADDR'] && env['MASTER_PORT'] ? `tcp://${env['MASTER_ADDR']}:${env['MASTER_PORT']}` : undefined);
    if (join === undefined) throw new DdpError('E_USAGE', 'no coordinator address', 'pass --join ADDRESS or set MASTER_ADDR and MASTER_PORT');
    // Its ring inbox listens where it reaches the coordinator: a non-loopback --join means a non-loopback inbox.
    const security = resolveSecurity(values, env, [join, ...(values['data-address'] !== undefined ? [values['data-address']] : [])], 'join');
    const log = pino({ level: values['log-level'], base: { role: 'worker', pid: process.pid } }, pino.destination({ dest: 2, sync: true }));
    // Recorded now: once the coordinator dies this process is reparented and process.ppid changes.
    const parentPid = process.ppid;
    const socketDir = localSocketDir(join);
    // The coordinator's death closes the ipc channel, and 'disconnect' runs when this event loop next
    // gets a turn: a worker inside a long synchronous computation (a wasm training step) notices only
    // when that step's compute ends, so it can exit up to one step late. That is acceptable: it holds
    // nothing another process waits for, and it exits right after (test/coordinator-death.test.ts
    // measures it).
    const orphaned = () => {
      // Our stderr was a pipe to the coordinator (it keeps worker-<i>.log): a write to it can fail now,
      // and must not stop the clean-up.
      const say = (f: () => void) => {
        try {
          f();
        } catch {
          // EPIPE: nobody is reading
        }
      };
      say(() => log.error('the coordinator process is gone; exiting'));
      // A SIGKILLed coordinator cannot remove its socket directory (and the next coordinator's sweep
      // may be far off): its workers do, if the directory's marker names their parent. The kernel
      // closes a dying process's files (our channel) just before it reparents its children, so wait
      // up to a second for the parent to be gone for certain; if it is not, leave the directory.
      const deadline = Date.now() + 1000;
      const finish = () => {
        const gone = parentGone(parentPid);
        if (!gone && Date.now() < deadline) {
          setTimeout(finish, 10);
          return;
        }
        // Several workers race here; the removal is forced and never throws.
        if (gone && socketDir !== null && removeSocketDirOwnedBy(socketDir, parentPid))
          say(() => log.info({ socketDir }, 'removed the socket directory of the dead coordinator'));
        process.exit(1);
      };
      finish();
    };
    if (env['TFJS_DDP_LAUNCHED'] === '1') {
      // Started by a local coordinator: Ctrl-C in the terminal reaches the whole process group, but
      // stopping is the coordinator's decision; and if the coordinator dies, so do we.
      process.on('SIGINT', () => log.info('SIGINT ignored: the coordinator stops this worker'));
      process.on('disconnect', orphaned);
    }
    for (const w of security.warnings) log.warn({ security: security.mode }, w);
    await runWorkerProcess({
      join,
      transport: new ZmqTransport(security.curve ? { curve: security.curve } : {}),
      secured: security.mode === 'curve',
      version: CLI_VERSION,
      log,
      requestedRank: intOrNull(env['RANK'] ?? env['SLURM_PROCID']),
      localRank: intOrNull(env['LOCAL_RANK'] ?? env['SLURM_LOCALID']),
      dataDir: values['data-dir'] ?? null,
      dataAddress: values['data-address'] ?? null,
      env,
    });
    process.off('disconnect', orphaned);
    process.disconnect?.();
    return 0;
  },
});
