// Who may listen where: the one rule behind --key-file and --insecure. Loopback (127.0.0.0/8, ::1,
// localhost), ipc:// and inproc:// are reachable only from this host, so they need no key; any
// other tcp:// address (a host's interface, 0.0.0.0, a name) needs the run key, or an explicit
// --insecure. Called by the CLI's coordinator and worker commands before any socket is opened.
import { DdpError } from '../errors';
import type { RunKey } from './run-key';

/** True for addresses only this host can reach: ipc://, inproc://, tcp on loopback. */
export function isLoopbackAddress(address: string): boolean {
  if (address.startsWith('ipc://') || address.startsWith('inproc://')) return true;
  const m = /^tcp:\/\/(\[[^\]]*\]|[^:/]*):(\d+|\*)$/.exec(address);
  if (m === null) return false;
  const host = m[1]!.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** How a process secures its sockets: CURVE with the run key, or nothing (loopback, or --insecure). */
export type Security = { kind: 'curve'; key: RunKey } | { kind: 'none'; insecure: boolean };

/**
 * Decides the security of a process that binds `addresses` (its --listen address, or the data
 * address its ring inbox will bind).
 * @param verb for the message: a coordinator listens, a worker joins (and its inbox listens where it joins)
 * @param key the run key (--key-file / TFJS_DDP_KEY_FILE), if given: then CURVE, wherever it listens
 * @throws DdpError E_CONFIG for a non-loopback address without a key and without --insecure, or both
 *   a key and --insecure
 */
export function decideSecurity(addresses: readonly string[], key: RunKey | null, insecure: boolean, verb: 'listen on' | 'join' = 'listen on'): Security {
  if (key !== null && insecure) throw new DdpError('E_CONFIG', 'both a key file and --insecure were given', 'pass one: --key-file FILE (or TFJS_DDP_KEY_FILE) to use CURVE, or --insecure to run without it');
  if (key !== null) return { kind: 'curve', key };
  const open = addresses.filter((a) => !isLoopbackAddress(a));
  if (open.length > 0 && !insecure) {
    throw new DdpError(
      'E_CONFIG',
      `refusing to ${verb} ${open.join(', ')} without a key: other hosts could join the run or send it frames`,
      'create a key with `tfjs-ddp keygen --out FILE` and pass --key-file FILE (or set TFJS_DDP_KEY_FILE) on the coordinator and every worker, or pass --insecure on a network you trust',
    );
  }
  return { kind: 'none', insecure };
}
