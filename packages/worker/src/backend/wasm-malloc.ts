// The wasm backend's tensor allocator, wrapped once when the backend is selected:
// - a failed allocation throws instead of returning address 0 (guard);
// - every tensor starts on a 64-byte boundary (alignment).
import * as tf from '@tensorflow/tfjs-core';

/** The message of the error a failed wasm tensor allocation throws. */
export const WASM_HEAP_EXHAUSTED = 'wasm heap exhausted';

/** Tensor data starts at a multiple of this many bytes (one cache line, one AVX-512 vector). */
export const WASM_TENSOR_ALIGN = 64;

/** Bytes of tensor data the wrapped allocator holds now, and the most it held since the last reset. */
export interface WasmTensorBytes {
  live: number;
  peak: number;
}

const account: WasmTensorBytes = { live: 0, peak: 0 };

/**
 * The wasm backend's tensor bytes (as requested, without the allocator's own overhead): what is
 * held now and the high-water mark since the last `resetPeak`; null when the wasm backend's
 * allocator is not wrapped. The heap's own size only grows, so it cannot say what a step needs.
 */
export function wasmTensorBytes(resetPeak = false): WasmTensorBytes | null {
  const wasm = (tf.backend() as unknown as { wasm?: WasmModule }).wasm;
  if (wasm?.guarded !== true) return null;
  const now = { ...account };
  if (resetPeak) account.peak = account.live;
  return now;
}

interface WasmModule {
  _malloc(n: number): number;
  _free(p: number): void;
  HEAPU8: Uint8Array;
  guarded?: boolean;
}

/**
 * Wraps tfjs-backend-wasm's `_malloc`/`_free`, which it calls for every tensor's data:
 *
 * - When the heap cannot grow, the stock allocator returns address 0 and tfjs writes the tensor
 *   there anyway, silently overwriting low memory; the backend aborts some ops later, or computes
 *   garbage. Near 4 GiB it can also hand out a block that runs past the heap's end. A failed
 *   allocation throws at once instead, before anything is written, so the worker reports a
 *   crashed backend (and is replaced) rather than training on garbage.
 * - Emscripten's malloc aligns to 8 bytes. oneDNN's convolutions run 10-30% slower on operands
 *   that do not start on a cache line (docs/kernels.md), so each tensor is over-allocated by 64
 *   bytes and handed out from its first 64-byte boundary; the raw address is remembered for
 *   `_free`. Pointers the wrapper did not hand out (the backend's C++ side may allocate an output
 *   itself) are freed as they are.
 */
export function wrapWasmMalloc(): void {
  const wasm = (tf.backend() as unknown as { wasm?: WasmModule }).wasm;
  if (wasm === undefined || wasm.guarded) return;
  // Emscripten's _malloc is a stub that replaces itself with the raw export on its first call: make
  // that call now, so that the wrapper below is not replaced.
  wasm._free(wasm._malloc(8));
  const malloc = wasm._malloc;
  const free = wasm._free;
  const raw = new Map<number, { p: number; n: number }>();
  wasm._malloc = (n: number) => {
    const p = malloc(n + WASM_TENSOR_ALIGN) >>> 0;
    // Near 4 GiB, emscripten's sbrk can wrap around and "succeed" with a block that runs past the
    // heap's end (seen with 1 GiB requests at 3 GiB): that is a failure too.
    if ((p === 0 && n > 0) || p + n + WASM_TENSOR_ALIGN > wasm.HEAPU8.length)
      throw new Error(
        `${WASM_HEAP_EXHAUSTED}: allocating ${n} bytes failed with the heap at ${wasm.HEAPU8.length} bytes`,
      );
    const aligned = p + ((WASM_TENSOR_ALIGN - (p % WASM_TENSOR_ALIGN)) % WASM_TENSOR_ALIGN);
    raw.set(aligned, { p, n });
    account.live += n;
    if (account.live > account.peak) account.peak = account.live;
    return aligned;
  };
  wasm._free = (p: number) => {
    const q = raw.get(p);
    if (q === undefined) {
      free(p);
      return;
    }
    raw.delete(p);
    account.live -= q.n;
    free(q.p);
  };
  wasm.guarded = true;
}
