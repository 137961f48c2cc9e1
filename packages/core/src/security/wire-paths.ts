// Names and paths that arrive over the wire, checked before anything touches the file system. A peer
// that holds the run key (or any peer of an --insecure run, or a local user on loopback) must not be
// able to write, or make a process bind over, a file outside the run: rank 0's answer to `save`
// names the files the coordinator writes, and the coordinator's `welcome` names the ipc:// socket a
// worker binds (libzmq unlinks an existing file there first). Called by the coordinator's remote
// group (checkWireFileNames, resolveInside) and by the worker process (checkIpcBindAddress).
import { basename, dirname, isAbsolute, relative, resolve } from 'node:path';
import { DdpError } from '../errors';

/**
 * Every file a rank may send in answer to `save`: what the worker's modelFiles writes
 * (packages/worker/src/io/model-files.ts: the tfjs LayersModel, the optimizer state, meta.json).
 * A name not on this list is refused, whatever it looks like.
 */
export const MODEL_FILE_NAMES: readonly string[] = [
  'model.json',
  'weights.bin',
  'optimizer.json',
  'optimizer.bin',
  'meta.json',
];

/**
 * Checks the file names `peer` sent: each on MODEL_FILE_NAMES, each once.
 * @throws DdpError E_PROTOCOL naming the peer and the (quoted) name, before anything is written
 */
export function checkWireFileNames(names: readonly unknown[], peer: string): string[] {
  const seen = new Set<string>();
  for (const n of names) {
    if (typeof n !== 'string' || !MODEL_FILE_NAMES.includes(n)) {
      throw new DdpError(
        'E_PROTOCOL',
        `${peer} sent a model file named ${JSON.stringify(n)}: not one of ${MODEL_FILE_NAMES.join(', ')}; nothing was written`,
        'a peer with the run key sends what tfjs-ddp never does: check which processes hold the key, and the tfjs-ddp version of every worker',
      );
    }
    if (seen.has(n))
      throw new DdpError(
        'E_PROTOCOL',
        `${peer} sent the model file ${n} twice; nothing was written`,
        'this is a bug in the worker, or a peer that is not tfjs-ddp',
      );
    seen.add(n);
  }
  return [...seen];
}

/**
 * `dir/name` resolved, when `name` is a plain file name (no separator, not `.` or `..`, no NUL) so
 * that the result is a direct child of `dir`: what every writer of a run's model and checkpoint
 * directories joins, so that no name can lead outside the run directory.
 * @throws DdpError E_PROTOCOL naming `from` (who sent the name) and the name otherwise
 */
export function resolveInside(dir: string, name: string, from: string): string {
  const base = resolve(dir);
  const full = resolve(base, name);
  const plain = name !== '' && name !== '.' && name !== '..' && !/[/\\\0]/.test(name);
  if (!plain || dirname(full) !== base || basename(full) !== name || relative(base, full) !== name) {
    throw new DdpError(
      'E_PROTOCOL',
      `${from} gave the file name ${JSON.stringify(name)}, which is not a plain name inside ${base}; nothing was written`,
      'a peer with the run key sends what tfjs-ddp never does: check which processes hold the key',
    );
  }
  return full;
}

/**
 * The ipc:// address a worker is told to bind, accepted only inside the run's own socket directory:
 * the directory of the coordinator's ipc:// control address (`--join`), made by makeSocketDir, and
 * named ring-N there.
 * Other schemes bind no file and pass. An ipc:// address is refused when the worker joined over
 * another scheme (a remote coordinator has no business naming local files).
 * @throws DdpError E_PROTOCOL naming the address and the directory it must be in
 */
export function checkIpcBindAddress(address: string, join: string): string {
  if (!address.startsWith('ipc://')) return address;
  const hint =
    'the coordinator names only sockets in its own socket directory: this coordinator is not tfjs-ddp, or not this version';
  if (!join.startsWith('ipc://'))
    throw new DdpError(
      'E_PROTOCOL',
      `the coordinator at ${join} asked this worker to bind ${address}: a worker that joins over tcp binds no ipc:// socket it is told to`,
      hint,
    );
  const socketDir = dirname(resolve(join.slice('ipc://'.length)));
  const path = address.slice('ipc://'.length);
  // ring-N: what the local launcher names them (cli/src/groups.ts); never `control` or `owner.pid`.
  const inside = isAbsolute(path) && dirname(path) === socketDir && /^ring-\d+$/.test(basename(path));
  if (!inside)
    throw new DdpError(
      'E_PROTOCOL',
      `the coordinator asked this worker to bind ${address}: not a ring-N socket in the run's socket directory ${socketDir}`,
      hint,
    );
  return address;
}
