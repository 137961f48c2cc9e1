// `tfjs-ddp keygen --out FILE`: writes a new run key (one CURVE key pair shared by the coordinator and
// every worker of a run) to FILE with mode 0600; it never replaces an existing file.
import { DdpError, generateRunKey, writeRunKeyFile } from '@tfjs-ddp/core';
import { defineCommand } from '../command';

export const keygenCommand = defineCommand({
  name: 'keygen',
  summary: 'Write a new run key file (CURVE) for multi-node runs',
  description: [
    'Writes a new key file (mode 0600, never over an existing file): one CURVE key pair that the',
    'coordinator and every worker of a run read with --key-file FILE or TFJS_DDP_KEY_FILE. With it every',
    'socket is authenticated and encrypted, and a process without the same file cannot join. Keep it',
    'secret; see docs/multi-node.md ("Security") for Slurm and Kubernetes.',
  ].join('\n'),
  options: {
    out: { type: 'string', valueName: 'FILE', description: 'where to write the key file' },
  },
  async run(values, io) {
    const out = values.out;
    if (out === undefined) throw new DdpError('E_USAGE', '--out FILE is required', 'e.g. tfjs-ddp keygen --out run.key');
    const key = generateRunKey();
    writeRunKeyFile(out, key);
    io.stdout.write(`wrote ${out} (mode 0600; public key ${key.publicKey}); pass --key-file ${out} (or TFJS_DDP_KEY_FILE=${out}) to the coordinator and every worker\n`);
    return 0;
  },
});
