// The check that every rank built the same model from the same data: called by the train loop before
// its first step and by the remote group at rendezvous and when a worker joins (group/rendezvous.ts, group/admission.ts).
import { DdpError, type WorkerDescription } from '@tfjs-ddp/core';

/**
 * Checks that every rank built the same model from the same data, before any step.
 * @throws DdpError E_TASK when a rank imported another model or data module than rank 0 (path or
 *   SHA-256); E_CONFIG when its parameter count or train/test sample counts differ from rank 0's;
 *   E_INTERNAL when there are no workers.
 */
export function checkWorkersAgree(workers: WorkerDescription[]): void {
  const first = workers[0];
  if (first === undefined) throw new DdpError('E_INTERNAL', 'no workers');
  for (const w of workers) {
    // The modules first: another file on another host explains any difference that follows.
    for (const kind of ['model', 'data'] as const) {
      const mine = w.task?.[`${kind}Sha256`] ?? null;
      const theirs = first.task?.[`${kind}Sha256`] ?? null;
      if (mine !== theirs || w.task?.[kind] !== first.task?.[kind]) {
        throw new DdpError(
          'E_TASK',
          `rank ${w.rank} (${w.host}, pid ${w.pid}) imported the ${kind} module ${w.task?.[kind] ?? '?'} (SHA-256 ${mine ?? 'none: a built-in'}) but rank 0 (${first.host}) imported ${first.task?.[kind] ?? '?'} (SHA-256 ${theirs ?? 'none: a built-in'})`,
          `every host must have the same ${kind} module at the same path: copy it, or pass --${kind} with a path that exists on every host`,
        );
      }
    }
    // Not the initial weights: the group broadcasts rank 0's (a joiner is synced from a healthy rank).
    for (const key of ['params', 'trainCount', 'testCount'] as const) {
      if (w[key] !== first[key]) {
        throw new DdpError(
          'E_CONFIG',
          `rank ${w.rank} (${w.host}, pid ${w.pid}) has ${key} ${w[key]} but rank 0 has ${first[key]}`,
          key === 'params'
            ? 'every worker must run the same tfjs-ddp version and config (seed, resize, pool)'
            : 'every worker must see the same data files',
        );
      }
    }
  }
}
