// Which errors are an out-of-memory that a smaller batch cures, which leave the backend unusable,
// and which are a user's task's own: the worker's OOM replay (worker-engine.ts) and `tfjs-ddp
// eval`'s smaller batches (io/evaluate-saved.ts) decide by these.
import { DdpError } from '@tfjs-ddp/core';
import { GPU_DEVICE_LOST } from '../backend/webgpu-scopes';

/**
 * Out-of-memory errors, as opposed to bugs: TensorFlow's (tfjs-node/-gpu), the RangeError that
 * Dawn's Node binding throws at once when a buffer mapped at creation (a tensor's upload) cannot be
 * allocated, seen on the lent H200, and V8's when the host has no memory for an ArrayBuffer.
 */
export function isOutOfMemoryError(e: unknown): boolean {
  const m = e instanceof Error ? e.message : String(e);
  return /OOM when allocating|Resource exhausted|ResourceExhausted|Invalid TF_Status: 8|Dst tensor is not initialized|out of memory|createBuffer failed to allocate|Array buffer allocation failed/i.test(
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

/**
 * What a training step of a user's task threw that is not a memory error: its model, loss or data
 * failing on their own tensors (a loss that throws, labels that do not fit the output), as E_TASK
 * naming the modules. The built-in task's errors, and DdpErrors, stay as they are.
 */
export function taskStepError(e: unknown, modules: { model: string; data: string }, what: string): unknown {
  if (e instanceof DdpError || (modules.model.startsWith('builtin:') && modules.data.startsWith('builtin:')))
    return e;
  return new DdpError(
    'E_TASK',
    `${what} failed in the task (model ${modules.model}, data ${modules.data}): ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`,
    'try the task in one process with `tfjs-ddp check` and the same --model, --data and --set',
    { cause: e },
  );
}
