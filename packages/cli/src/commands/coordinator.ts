// `tfjs-ddp coordinator --listen tcp://HOST:PORT --world-size W [train settings]`: the coordinator of
// a multi-node run. It launches nothing: W workers join it (`tfjs-ddp worker --join ...` started by
// srun, a Kubernetes indexed Job, or by hand), then it trains exactly as `tfjs-ddp train` does.
import { DdpError } from '@tfjs-ddp/core';
import { defineCommand, type OptionSpec } from '../command';
import { startListening } from '../groups';
import { SECURITY_OPTIONS, resolveSecurity } from '../security';
import { runTraining } from '../run-training';
import { RUN_DIR_OPTIONS, TRAIN_OPTIONS, runFromValues } from './train';

const options: Record<string, OptionSpec> = {
  listen: { type: 'string', valueName: 'tcp://HOST:PORT', description: 'address to listen on (default tcp://$MASTER_ADDR:$MASTER_PORT)' },
  'world-size': { type: 'string', valueName: 'W', description: 'number of workers to wait for (default $WORLD_SIZE, then $SLURM_NTASKS)' },
  ...SECURITY_OPTIONS,
  ...TRAIN_OPTIONS,
  ...RUN_DIR_OPTIONS,
};

export const coordinatorCommand = defineCommand({
  name: 'coordinator',
  summary: 'Coordinate a multi-node run: wait for W workers to join, then train',
  description: [
    'Listens on --listen for --world-size workers started elsewhere with `tfjs-ddp worker --join`,',
    'assigns ranks (RANK / SLURM_PROCID when the workers have them), checks that they built the same',
    'model from the same data, and trains with the same settings and outputs as `tfjs-ddp train`.',
    'A non-loopback --listen address needs the run key (--key-file, TFJS_DDP_KEY_FILE; made by',
    '`tfjs-ddp keygen`) or an explicit --insecure. `--resume RUN_DIR` continues a stopped run from its',
    'newest checkpoint, as `train --resume` does, with the workers that join now (as many as before, or',
    'another number: the global batch is kept and split anew).',
  ].join('\n'),
  options,
  async run(values, io) {
    const { config, sources, resume, overwrite } = runFromValues(values, io);
    const env = io.env;
    const listen = (values['listen'] as string | undefined) ?? (env['MASTER_ADDR'] && env['MASTER_PORT'] ? `tcp://${env['MASTER_ADDR']}:${env['MASTER_PORT']}` : undefined);
    if (listen === undefined) throw new DdpError('E_USAGE', 'no address to listen on', 'pass --listen tcp://HOST:PORT or set MASTER_ADDR and MASTER_PORT');
    const ws = (values['world-size'] as string | undefined) ?? env['WORLD_SIZE'] ?? env['SLURM_NTASKS'];
    const worldSize = Number(ws);
    if (ws === undefined || !Number.isInteger(worldSize) || worldSize < 1) {
      throw new DdpError('E_USAGE', `--world-size must be a positive integer, got ${JSON.stringify(ws ?? null)}`, 'pass --world-size W or set WORLD_SIZE');
    }
    // Before the run directory exists: a refused address is a configuration error, exit 2, no files.
    const security = resolveSecurity(values, env, [listen]);
    for (const w of security.warnings) io.stderr.write(`tfjs-ddp: warning: ${w}\n`);
    // Resumed on as many ranks: each keeps its capacity (no new search), so the split is the same.
    const capacities = resume !== undefined && resume.loop.capacities.length === worldSize ? resume.loop.capacities : undefined;
    return runTraining(
      { ...config, workers: worldSize },
      sources,
      io,
      (_runDir, log, trace, stopRequested) => {
        for (const w of security.warnings) log.warn({ security: security.mode }, w);
        return startListening(config, listen, worldSize, log, security, trace, capacities, stopRequested);
      },
      resume,
      { overwrite, command: 'tfjs-ddp coordinator' },
    );
  },
});
