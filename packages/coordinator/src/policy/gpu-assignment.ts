// One rank per GPU: after rendezvous, the coordinator checks that no two ranks on one host run on the
// same GPU adapter (as each worker reported it), unless --share-gpu allows it. Pure; called by the
// remote group's rendezvous.
import { DdpError, type WorkerDescription } from '@tfjs-ddp/core';

/** What identifies a rank's adapter on its host: the launcher's device selection, else the adapter itself. */
function adapterKey(w: WorkerDescription): string | null {
  if (w.adapter === null) return null;
  return `${w.host}\u0000${w.adapter.selection ?? 'default'}\u0000${w.adapter.description}`;
}

/**
 * @throws DdpError E_CONFIG naming the ranks that share an adapter, and what to do, unless `shareGpu`.
 */
export function checkGpusDistinct(workers: readonly WorkerDescription[], shareGpu: boolean): void {
  if (shareGpu) return;
  const seen = new Map<string, WorkerDescription>();
  for (const w of workers) {
    const key = adapterKey(w);
    if (key === null) continue;
    const other = seen.get(key);
    if (other === undefined) {
      seen.set(key, w);
      continue;
    }
    const a = w.adapter!;
    const how = a.selection === null ? 'no Vulkan device selection was applied' : `both were given ${a.selection}`;
    throw new DdpError(
      'E_CONFIG',
      `ranks ${other.rank} and ${w.rank} on ${w.host} both run on the GPU adapter "${a.description}" (${how})`,
      a.software
        ? 'a software adapter is one device for every process: pass --share-gpu to run several ranks on it, or --workers 1'
        : 'with several GPUs, install mesa-vulkan-drivers (its device-select layer gives each process its own GPU, docs/gpu.md); on a single GPU pass --share-gpu or --workers 1',
    );
  }
}
