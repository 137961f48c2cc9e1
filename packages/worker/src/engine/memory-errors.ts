// Which errors are an out-of-memory that a smaller batch cures, and which leave the backend unusable:
// the worker's OOM replay (worker-engine.ts) and `tfjs-ddp eval`'s smaller batches
// (io/evaluate-saved.ts) decide by these.
import { GPU_DEVICE_LOST } from '../backend/webgpu-scopes';

/**
 * Out-of-memory errors, as opposed to bugs: TensorFlow's (tfjs-node/-gpu), and the RangeError that
 * Dawn's Node binding throws at once when a buffer mapped at creation (a tensor's upload) cannot be
 * allocated, seen on the lent H200.
 */
export function isOutOfMemoryError(e: unknown): boolean {
  const m = e instanceof Error ? e.message : String(e);
  return /OOM when allocating|Resource exhausted|ResourceExhausted|Invalid TF_Status: 8|Dst tensor is not initialized|out of memory|createBuffer failed to allocate/i.test(
    m,
  );
}

/** A wasm backend whose heap overflowed, or a lost GPU device, is unusable for good: these are the symptoms. */
export function isBackendCorrupted(e: unknown): boolean {
  const m = e instanceof Error ? e.message : String(e);
  return (
    /memory access out of bounds|Aborted\(|Cannot enlarge memory|RuntimeError: unreachable|wasm heap exhausted/.test(
      m,
    ) || m.includes(GPU_DEVICE_LOST)
  );
}
