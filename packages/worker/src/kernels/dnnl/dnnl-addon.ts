// Loads the native oneDNN convolutions (packages/worker/native/dnnl_conv.cc, built by `npm ci` where
// g++ and libdnnl-dev are installed) for dnnl-kernels.ts. TFJS_DDP_CPU_KERNELS=wasm turns them off
// (to compare with the wasm kernels), =dnnl requires them, as does TFJS_DDP_NATIVE=1 (CI); unset,
// they are used when the addon loads and the wasm kernels run otherwise, saying why in one line.
import { createRequire } from 'node:module';
import { BUNDLED, DdpError, shippedFile } from '@tfjs-ddp/core';

/** Which conv a call runs: forward (+bias, +ReLU), backward-data, backward-weights. */
export const DNNL_OP = { forward: 0, backwardData: 1, backwardWeights: 2 } as const;
export type DnnlOp = (typeof DNNL_OP)[keyof typeof DNNL_OP];

/**
 * The addon's simpler kernels (native/heap_call.h): operands at byte `offsets` of `heap` (the wasm
 * heap's current ArrayBuffer), shape numbers in `geom`. Every operand is checked to lie inside the heap.
 * @throws Error (code E_DNNL) on bad arguments or an operand outside the heap
 */
export type HeapKernel = (heap: ArrayBuffer, offsets: Float64Array, geom: Int32Array) => void;

/** What dnnl_conv.cc exports. */
export interface DnnlBinding {
  /**
   * Runs one conv in place on `heap` (the wasm heap's current ArrayBuffer). `offsets` are byte
   * offsets (forward: x, filter, y, bias; backward-data: dy, filter, dx; backward-weights: x, dy,
   * dw); `geom` is [N, H, W, Ci, KH, KW, Co, OH, OW, sh, sw, pt, pl, pb, pr, bias, relu].
   * @throws Error (code E_DNNL) when oneDNN has no primitive for it or an operand is outside the heap
   */
  conv(op: DnnlOp, heap: ArrayBuffer, offsets: Float64Array, geom: Int32Array): void;
  /** The implementation oneDNN chose for that conv (creating and caching its primitive). */
  impl(op: DnnlOp, geom: Int32Array): string;
  /** Native memory outside the wasm heap: the shared scratchpad and the filters in oneDNN's layouts. */
  stats(): { primitives: number; scratchpadBytes: number; weightBytes: number };
  /**
   * Fused BatchNorm (+ ReLU) training, in place on `heap` (batch_norm.h): op 0 forward (offsets of
   * x, γ, β, y, mean, var, 1/σ), op 1 backward (dy, x, β, mean, 1/σ, γ, dx, dγ, dβ), op 2 backward
   * adding acc to dx (dy, x, β, mean, 1/σ, γ, acc, dx, dγ, dβ). With x in channel parts (`parts`,
   * their channel counts): op 3 forward (γ, β, y, mean, var, 1/σ, the parts), op 4 backward (dy, β,
   * mean, 1/σ, γ, dγ, dβ, the parts, their dx, their acc or −1).
   */
  batchNorm(
    op: 0 | 1 | 2 | 3 | 4,
    heap: ArrayBuffer,
    offsets: Float64Array,
    rows: number,
    channels: number,
    epsilon: number,
    relu: boolean,
    parts?: Int32Array,
  ): void;
  /** Splits x [rows × Σsizes] at byte offset `x` along its last axis into `outs` (byte offsets), in place on `heap`. */
  splitChannels(heap: ArrayBuffer, x: number, outs: Float64Array, sizes: Int32Array, rows: number): void;
  /** y = x[begin : begin + size] of a 4-D float32 tensor `shape`, x and y at byte offsets on `heap`. */
  slice4(heap: ArrayBuffer, x: number, y: number, shape: Int32Array, begin: Int32Array, size: Int32Array): void;
  /** MaxPoolGrad (NHWC), offsets of dy, x, dx; geom [B, H, W, C, OH, OW, KH, KW, sh, sw, top, left] (pool.h). */
  maxPoolGrad: HeapKernel;
  /** AvgPoolGrad (NHWC), offsets of dy, dx; geom as maxPoolGrad's (pool.h). */
  avgPoolGrad: HeapKernel;
  /** Max pool over zero padding (NHWC), offsets of x, y, arg (int32); geom as maxPoolGrad's, top and left the padding (pool.h). */
  maxPoolZeroPad: HeapKernel;
  /** Its gradient: offsets of dy, arg, dx; geom as maxPoolZeroPad's. */
  maxPoolZeroPadGrad: HeapKernel;
  /** y[c] = Σ_r x[r, c] in float64, offsets of x, y; geom [rows, C] (reduce.h). */
  channelSum: HeapKernel;
  /** y = a + b, float32, broadcasting; offsets of a, b, y; geom [a shape, b shape, y shape] as 4 axes each (elementwise.h). */
  add4: HeapKernel;
  /** y = a == b (bool, a byte each), float32 operands broadcasting; offsets and geom as add4's. */
  equal4: HeapKernel;
  /** y = x padded by a constant; offsets of x, y; geom [x shape, pads before, y shape (4 axes each), value's float32 bits]. */
  pad4: HeapKernel;
  /** The reverse of splitChannels: the parts at `outs` concatenated along the last axis into `x`. */
  joinChannels(heap: ArrayBuffer, x: number, outs: Float64Array, sizes: Int32Array, rows: number): void;
  version: string;
  /** OpenMP threads oneDNN uses (1: one core per worker). */
  threads: number;
}

export interface DnnlLoad {
  binding: DnnlBinding | undefined;
  /** "oneDNN 2.6.3, 1 thread", or why the wasm kernels run. */
  why: string;
}

/**
 * Built by packages/worker/native/build.mjs; in the published package, prebuilt next to the data
 * plane's (tools/package/build.mjs), where it needs oneDNN's shared library at run time. There
 * TFJS_DDP_NATIVE=1 (which requires the data plane's prebuild) does not require it.
 */
export const DNNL_ADDON = shippedFile(import.meta.url, {
  source: '../../../native/build/dnnl_conv.node',
  bundle: `../prebuilds/${process.platform}-${process.arch}/dnnl_conv.node`,
});

const HINT = BUNDLED
  ? 'the wasm kernels run; the package ships the oneDNN kernels for linux-x64 only, and they need oneDNN 2 (Debian/Ubuntu: apt-get install libdnnl2)'
  : 'install g++ and libdnnl-dev (Debian/Ubuntu), then run `npm run build:native`';

/**
 * Loads the addon at `path` unless the environment turns it off.
 * @throws DdpError E_CONFIG when TFJS_DDP_CPU_KERNELS is not '', 'wasm' or 'dnnl', or when it is
 *   'dnnl' (or TFJS_DDP_NATIVE is '1', in the repository) and the addon does not load
 */
export function loadDnnl(env: Record<string, string | undefined>, path: string = DNNL_ADDON): DnnlLoad {
  const want = env['TFJS_DDP_CPU_KERNELS'] ?? '';
  if (want !== '' && want !== 'wasm' && want !== 'dnnl') {
    throw new DdpError(
      'E_CONFIG',
      `TFJS_DDP_CPU_KERNELS is ${JSON.stringify(want)}, expected wasm or dnnl`,
      'unset it to use the oneDNN convolutions when they are built, wasm to turn them off, dnnl to require them',
    );
  }
  if (want === 'wasm') return { binding: undefined, why: 'TFJS_DDP_CPU_KERNELS=wasm' };
  if (env['TFJS_DDP_NATIVE'] === '0') return { binding: undefined, why: 'TFJS_DDP_NATIVE=0' };
  try {
    const binding = createRequire(import.meta.url)(path) as DnnlBinding;
    return {
      binding,
      why: `oneDNN ${binding.version}, ${binding.threads} thread${binding.threads === 1 ? '' : 's'}`,
    };
  } catch (e) {
    const why = `${path} did not load (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); ${HINT}`;
    if (want === 'dnnl' || (env['TFJS_DDP_NATIVE'] === '1' && !BUNDLED)) {
      throw new DdpError(
        'E_CONFIG',
        `${want === 'dnnl' ? 'TFJS_DDP_CPU_KERNELS=dnnl' : 'TFJS_DDP_NATIVE=1'} but ${why}`,
      );
    }
    return { binding: undefined, why };
  }
}

let loaded: DnnlLoad | undefined;

/** The process's addon, loaded once from process.env (see loadDnnl). */
export function dnnl(): DnnlLoad {
  loaded ??= loadDnnl(process.env);
  return loaded;
}
