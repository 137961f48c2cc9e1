// The wasm backend's SIMD kernels (kernels.wat, pool.wat, conv.wat: WebAssembly SIMD128) for
// machines without the native addon: small modules instantiated on tfjs-backend-wasm's own memory,
// so they read and write tensors in place on the heap, as the native kernels do, with no copy in or
// out.
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { DnnlBinding } from '../dnnl/dnnl-addon';
import { SIMD_WASM } from './simd-wasm.generated';

/** The modules' exports: pointers are byte offsets into the heap, counts are elements. */
export interface SimdExports {
  /** pool.wat: x, y, arg, then max-pool-zero-pad.ts' 12 geometry numbers. */
  maxPoolZeroPad(x: number, y: number, arg: number, ...geom: number[]): void;
  /** pool.wat: dy, dx, the geometry, then 1 / (KH·KW) in float32. */
  avgPoolGrad(dy: number, dx: number, ...geomAndMult: number[]): void;
  /** pool.wat: dy, arg, dx, then the geometry. */
  maxPoolZeroPadGrad(dy: number, arg: number, dx: number, ...geom: number[]): void;
  convFilterGrad(
    x: number,
    dy: number,
    dw: number,
    B: number,
    OH: number,
    OW: number,
    Co: number,
    KH: number,
    R: number,
    sh: number,
    xPos: number,
    xRow: number,
    xImg: number,
    block: number,
  ): void;
  copyRows(src: number, srcStride: number, dst: number, dstStride: number, bytes: number, rows: number): void;
  colSums(x: number, rows: number, C: number, s: number): void;
  bnSums(x: number, rows: number, C: number, shift: number, s: number, q: number): void;
  /** `tab`: `parts` entries of [x, width in bytes] (int32; x advanced by the call). */
  bnApply(
    tab: number,
    parts: number,
    y: number,
    mean: number,
    scale: number,
    beta: number,
    rows: number,
    C: number,
    relu: number,
  ): void;
  /** `tab` as bnApply's. */
  bnGradSums(
    tab: number,
    parts: number,
    dy: number,
    y: number,
    mu: number,
    rows: number,
    C: number,
    relu: number,
    sb: number,
    sg: number,
  ): void;
  /** `tab`: `parts` entries of [x, acc (0: none), dx, width in bytes] (int32; pointers advanced by the call). */
  bnGradApply(
    tab: number,
    parts: number,
    dy: number,
    y: number,
    mu: number,
    k: number,
    a: number,
    t: number,
    rows: number,
    C: number,
    relu: number,
  ): void;
}

/** What the SIMD kernels read of tfjs-backend-wasm 4.22's backend. */
interface WasmBackendLike {
  wasm: {
    HEAPU8: Uint8Array;
    asm?: { memory?: unknown };
    _malloc(n: number): number;
    _free(p: number): void;
  };
  dataIdMap: { get(id: object): { memoryOffset: number } | undefined };
}

export interface SimdKernels {
  exports: SimdExports;
  /** The heap offset of tensor `t`'s data. */
  offset(t: TensorInfo): number;
  /**
   * A heap block of at least `bytes` for a kernel's per-channel scratch, kept for later calls (a
   * larger request replaces it). Get it before taking any view: an allocation can grow the heap
   * and detach views.
   */
  scratch(bytes: number): number;
  /** The heap's current buffer (take views after every allocation). */
  heap(): ArrayBuffer;
  /** A heap block of `bytes` for one call (free it with `free`); it can grow the heap. */
  malloc(bytes: number): number;
  free(at: number): void;
}

/** The WebAssembly API (this project compiles without the DOM library, where it is declared). */
interface WasmMemory {
  buffer: ArrayBuffer | SharedArrayBuffer;
}
const WA = (
  globalThis as unknown as {
    WebAssembly: {
      Module: new (bytes: Uint8Array) => object;
      Instance: new (module: object, imports: object) => { exports: unknown };
      Memory: abstract new (...args: never[]) => WasmMemory;
    };
  }
).WebAssembly;

let compiled: object[] | null | undefined;
const instances = new WeakMap<WasmMemory, SimdKernels>();

/** The modules, compiled once; null where this runtime lacks WebAssembly SIMD. */
function modules(): object[] | null {
  if (compiled === undefined) {
    try {
      compiled = Object.values(SIMD_WASM).map((b64) => new WA.Module(Buffer.from(b64, 'base64')));
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/**
 * The SIMD kernels bound to `backend`'s heap; null when it is not a wasm backend whose memory can
 * be imported (the threaded build's shared memory is not: its kernels keep the JS loops).
 */
export function simdKernels(backend: unknown): SimdKernels | null {
  const b = backend as Partial<WasmBackendLike>;
  const memory = b.wasm?.asm?.memory;
  if (!(memory instanceof WA.Memory) || !(memory.buffer instanceof ArrayBuffer)) return null;
  const known = instances.get(memory);
  if (known !== undefined) return known;
  const ms = modules();
  if (ms === null) return null;
  const exports = Object.assign(
    {},
    ...ms.map((m) => new WA.Instance(m, { env: { memory } }).exports),
  ) as SimdExports;
  const wasm = b.wasm!;
  const dataIdMap = b.dataIdMap!;
  let block = 0;
  let blockBytes = 0;
  const kernels: SimdKernels = {
    exports,
    offset: (t) => dataIdMap.get(t.dataId)!.memoryOffset,
    scratch: (bytes) => {
      if (bytes > blockBytes) {
        if (block !== 0) wasm._free(block);
        blockBytes = Math.max(bytes, 2 * blockBytes, 4096);
        block = wasm._malloc(blockBytes);
      }
      return block;
    },
    heap: () => memory.buffer as ArrayBuffer,
    malloc: (bytes) => wasm._malloc(bytes),
    free: (at) => wasm._free(at),
  };
  instances.set(memory, kernels);
  return kernels;
}

/**
 * The native addon's channel copies, bias-gradient sum and pooling kernels (dnnl-addon.ts'
 * signatures) over the SIMD kernels of `k`, so that split-channels.ts, native-pool-sum.ts and
 * max-pool-zero-pad.ts register them unchanged where the addon is not built. Each checks that it is handed `k`'s own heap.
 */
export function simdHeapKernels(
  k: SimdKernels,
): Pick<
  DnnlBinding,
  'splitChannels' | 'joinChannels' | 'channelSum' | 'maxPoolZeroPad' | 'maxPoolZeroPadGrad' | 'avgPoolGrad'
> {
  const own = (heap: ArrayBuffer, what: string) => {
    if (heap !== k.heap())
      throw new Error(`wasm SIMD ${what}: the heap is not the one its kernels were instantiated on`);
  };
  const copies =
    (join: boolean) =>
    (heap: ArrayBuffer, x: number, parts: Float64Array, sizes: Int32Array, rows: number) => {
      own(heap, join ? 'joinChannels' : 'splitChannels');
      const C = sizes.reduce((a, c) => a + c, 0);
      let at = x;
      sizes.forEach((size, i) => {
        const part = parts[i]!;
        if (join) k.exports.copyRows(part, 4 * size, at, 4 * C, 4 * size, rows);
        else k.exports.copyRows(at, 4 * C, part, 4 * size, 4 * size, rows);
        at += 4 * size;
      });
    };
  const pool =
    (name: 'maxPoolZeroPad' | 'maxPoolZeroPadGrad') =>
    (heap: ArrayBuffer, offsets: Float64Array, geom: Int32Array) => {
      own(heap, name);
      k.exports[name](offsets[0]!, offsets[1]!, offsets[2]!, ...geom);
    };
  return {
    // native/pool.h's multiplier: float(1.0 / double(KH·KW)).
    avgPoolGrad: (heap, offsets, geom) => {
      own(heap, 'avgPoolGrad');
      k.exports.avgPoolGrad(offsets[0]!, offsets[1]!, ...geom, Math.fround(1 / (geom[6]! * geom[7]!)));
    },
    maxPoolZeroPad: pool('maxPoolZeroPad'),
    maxPoolZeroPadGrad: pool('maxPoolZeroPadGrad'),
    splitChannels: copies(false),
    joinChannels: copies(true),
    channelSum: (heap, offsets, geom) => {
      own(heap, 'channelSum');
      const [rows, C] = geom as unknown as [number, number];
      const s = k.scratch(8 * C);
      k.exports.colSums(offsets[0]!, rows, C, s);
      const now = k.heap();
      new Float32Array(now, offsets[1]!, C).set(new Float64Array(now, s, C));
    },
  };
}
