// The command-line side of the run key: --key-file / TFJS_DDP_KEY_FILE and --insecure for
// `tfjs-ddp coordinator` and `tfjs-ddp worker`, turned into the transport's CURVE setting by the one
// rule in @tfjs-ddp/core (decideSecurity): non-loopback needs the key or an explicit --insecure.
import { decideSecurity, readRunKeyFile, type RunKey, type SecurityReport } from '@tfjs-ddp/core';
import type { OptionSpec } from './command';

export const SECURITY_OPTIONS = {
  'key-file': { type: 'string', valueName: 'FILE', description: 'run key from `tfjs-ddp keygen`: CURVE on every socket, only holders of the same file join [TFJS_DDP_KEY_FILE]' },
  insecure: { type: 'boolean', description: 'allow a non-loopback address without a key: anyone who reaches the ports can join the run or send it frames' },
} as const satisfies Record<string, OptionSpec>;

export interface ResolvedSecurity {
  mode: SecurityReport['security'];
  /** For ZmqTransport's `curve` option. */
  curve: RunKey | undefined;
  /** Lines to show the user (an --insecure run, a key file others can read). */
  warnings: string[];
}

/**
 * Reads the key file (if any) and decides how this process's sockets are secured.
 * @param addresses what the process listens on or talks over (--listen; --join and --data-address)
 * @throws DdpError E_CONFIG naming --key-file and --insecure for a non-loopback address without a key,
 *   or a key file that cannot be read or that others may read or write
 */
export function resolveSecurity(values: Readonly<Record<string, string | boolean | undefined>>, env: Readonly<Record<string, string | undefined>>, addresses: readonly string[], verb: 'listen on' | 'join' = 'listen on'): ResolvedSecurity {
  const path = (values['key-file'] as string | undefined) ?? (env['TFJS_DDP_KEY_FILE'] || undefined);
  const key = path === undefined ? null : readRunKeyFile(path);
  const insecure = values['insecure'] === true;
  const s = decideSecurity(addresses, key, insecure, verb);
  const warnings: string[] = [];
  if (s.kind === 'curve') return { mode: 'curve', curve: s.key, warnings };
  if (s.insecure) warnings.push(`--insecure: ${addresses.join(', ')} without CURVE: anyone who can reach these ports can join this run, read its traffic or send it frames`);
  return { mode: s.insecure ? 'insecure' : 'loopback', curve: undefined, warnings };
}
