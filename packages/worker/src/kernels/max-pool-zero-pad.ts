// Max pooling over a zero-padded input as one kernel each way: the composite PadV2 → MaxPool
// (valid) → MaxPoolGrad → Slice of a ZeroPadding2D followed by a MaxPooling2D (the seed's stem,
// which pads because PyTorch's pool pads symmetrically and tfjs' 'same' does not), without the
// padded tensor. Forward: y and, per output, the window position (kh·KW + kw, int32) of its first
// maximum in row-major order, a pad position's 0 taking part like any value. Backward: dx from dy
// and those positions, each input gathering from the windows it won in MaxPoolGrad's order, so
// both are the composite's values bit for bit. JS loops on wasm and cpu; on wasm the same loops in
// C++ (native/pool.h) where the addon loads, else in WebAssembly SIMD (simd/pool.wat); on webgpu in
// WGSL (webgpu/max-pool-zero-pad-webgpu.ts). model/fuse-pad-max-pool.ts uses them.
import type { KernelBackend, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { DnnlBinding, HeapKernel } from './dnnl/dnnl-addon';
import type { WasmHeapBackend } from './heap-access';

export const MAX_POOL_ZERO_PAD = 'DdpMaxPoolZeroPad';
export const MAX_POOL_ZERO_PAD_GRAD = 'DdpMaxPoolZeroPadGrad';

export interface MaxPoolZeroPadAttrs {
  filterSize: [number, number];
  strides: [number, number];
  /** Zero padding [top, bottom, left, right]. */
  pads: [number, number, number, number];
}

/** [B, H, W, C, OH, OW, KH, KW, sh, sw, top, left] for NHWC input `shape` (pool.h's geom). */
export function zeroPadPoolGeometry(shape: readonly number[], a: MaxPoolZeroPadAttrs): number[] {
  const [B, H, W, C] = shape as [number, number, number, number];
  const [KH, KW] = a.filterSize;
  const [sh, sw] = a.strides;
  const [top, bottom, left, right] = a.pads;
  const OH = Math.floor((H + top + bottom - KH) / sh) + 1;
  const OW = Math.floor((W + left + right - KW) / sw) + 1;
  return [B, H, W, C, OH, OW, KH, KW, sh, sw, top, left];
}

/** pool.h's geom: B, H, W, C, OH, OW, KH, KW, sh, sw, top, left. */
type Geom = [number, number, number, number, number, number, number, number, number, number, number, number];

interface HostTensors {
  make(shape: number[], dtype: 'float32' | 'int32'): TensorInfo;
  f32(t: TensorInfo): Float32Array;
  i32(t: TensorInfo): Int32Array;
}

/** Outputs and views of tensor memory on wasm (the heap: allocate every output before viewing) or cpu. */
function host(backendName: string, backend: KernelBackend): HostTensors {
  if (backendName === 'wasm') {
    const b = backend as unknown as WasmHeapBackend & { makeOutput(s: number[], d: string): TensorInfo };
    const at = (t: TensorInfo) => b.dataIdMap.get(t.dataId)!.memoryOffset;
    const n = (t: TensorInfo) => t.shape.reduce((p, c) => p * c, 1);
    return {
      make: (shape, dtype) => b.makeOutput(shape, dtype),
      f32: (t) => new Float32Array(b.wasm.HEAPU8.buffer, at(t), n(t)),
      i32: (t) => new Int32Array(b.wasm.HEAPU8.buffer, at(t), n(t)),
    };
  }
  const b = backend as unknown as {
    data: { get(id: object): { values: Float32Array | Int32Array } };
    makeTensorInfo(shape: number[], dtype: string, values: Float32Array | Int32Array): TensorInfo;
  };
  return {
    make: (shape, dtype) => {
      const n = shape.reduce((p, c) => p * c, 1);
      return b.makeTensorInfo(shape, dtype, dtype === 'int32' ? new Int32Array(n) : new Float32Array(n));
    },
    f32: (t) => b.data.get(t.dataId).values as Float32Array,
    i32: (t) => b.data.get(t.dataId).values as Int32Array,
  };
}

function forward(x: Float32Array, y: Float32Array, arg: Int32Array, g: number[]): void {
  const [B, H, W, C, OH, OW, KH, KW, sh, sw, top, left] = g as Geom;
  for (let b = 0; b < B; b++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        const o = ((b * OH + oh) * OW + ow) * C;
        y.fill(-Infinity, o, o + C);
        arg.fill(0, o, o + C);
        for (let kh = 0; kh < KH; kh++) {
          const h = oh * sh - top + kh;
          for (let kw = 0; kw < KW; kw++) {
            const w = ow * sw - left + kw;
            const tap = kh * KW + kw;
            const inside = h >= 0 && h < H && w >= 0 && w < W;
            const base = ((b * H + h) * W + w) * C;
            for (let c = 0; c < C; c++) {
              const v = inside ? x[base + c]! : 0;
              if (v > y[o + c]!) {
                y[o + c] = v;
                arg[o + c] = tap;
              }
            }
          }
        }
      }
}

function backward(dy: Float32Array, arg: Int32Array, dx: Float32Array, g: number[]): void {
  const [B, H, W, C, OH, OW, KH, KW, sh, sw, top, left] = g as Geom;
  const first = (p: number, k: number, s: number) => (p - k + 1 <= 0 ? 0 : Math.floor((p - k + s) / s));
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const ph = h + top;
      const [oh0, oh1] = [first(ph, KH, sh), Math.min(OH - 1, Math.floor(ph / sh))];
      for (let w = 0; w < W; w++) {
        const pw = w + left;
        const [ow0, ow1] = [first(pw, KW, sw), Math.min(OW - 1, Math.floor(pw / sw))];
        const d = ((b * H + h) * W + w) * C;
        dx.fill(0, d, d + C);
        for (let oh = oh0; oh <= oh1; oh++)
          for (let ow = ow0; ow <= ow1; ow++) {
            const tap = (ph - oh * sh) * KW + (pw - ow * sw);
            const o = ((b * OH + oh) * OW + ow) * C;
            for (let c = 0; c < C; c++) if (arg[o + c] === tap) dx[d + c]! += dy[o + c]!;
          }
      }
    }
}

/** Runs `native` on the tensors' heap offsets; false (nothing run) without it or on a shared heap. */
function onHeap(
  backend: unknown,
  native: HeapKernel | undefined,
  tensors: TensorInfo[],
  g: number[],
): boolean {
  const b = backend as WasmHeapBackend;
  if (native === undefined || !(b.wasm.HEAPU8.buffer instanceof ArrayBuffer)) return false;
  const at = (t: TensorInfo) => b.dataIdMap.get(t.dataId)!.memoryOffset;
  native(b.wasm.HEAPU8.buffer, Float64Array.from(tensors, at), Int32Array.from(g));
  return true;
}

/** x → [y, arg]; attrs MaxPoolZeroPadAttrs. `native`: pool.h's kernel on the wasm heap. */
function makeForward(backendName: string, native?: HeapKernel): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TensorInfo };
    const g = zeroPadPoolGeometry(x.shape, attrs as unknown as MaxPoolZeroPadAttrs);
    const outShape = [g[0]!, g[4]!, g[5]!, g[3]!];
    const h = host(backendName, backend as KernelBackend);
    const y = h.make(outShape, 'float32');
    const arg = h.make(outShape, 'int32');
    if (!onHeap(backend, native, [x, y, arg], g)) forward(h.f32(x), h.f32(y), h.i32(arg), g);
    return [y, arg];
  };
}

/** dy, arg → dx; attrs MaxPoolZeroPadAttrs and inputShape. */
function makeBackward(backendName: string, native?: HeapKernel): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { dy, arg } = inputs as { dy: TensorInfo; arg: TensorInfo };
    const { inputShape } = attrs as unknown as { inputShape: number[] };
    const g = zeroPadPoolGeometry(inputShape, attrs as unknown as MaxPoolZeroPadAttrs);
    const h = host(backendName, backend as KernelBackend);
    const dx = h.make(inputShape.slice(), 'float32');
    if (!onHeap(backend, native, [dy, arg, dx], g)) backward(h.f32(dy), h.i32(arg), h.f32(dx), g);
    return dx;
  };
}

/** The JS kernels, for wasm without the addon and for cpu. */
export function maxPoolZeroPadConfigs(backendName: 'wasm' | 'cpu'): KernelConfig[] {
  return [
    { kernelName: MAX_POOL_ZERO_PAD, backendName, kernelFunc: makeForward(backendName) },
    { kernelName: MAX_POOL_ZERO_PAD_GRAD, backendName, kernelFunc: makeBackward(backendName) },
  ];
}

/** The native kernels on wasm (the JS loops where the heap is a SharedArrayBuffer). */
export function nativeMaxPoolZeroPadConfigs(
  addon: Pick<DnnlBinding, 'maxPoolZeroPad' | 'maxPoolZeroPadGrad'>,
): KernelConfig[] {
  return [
    {
      kernelName: MAX_POOL_ZERO_PAD,
      backendName: 'wasm',
      kernelFunc: makeForward('wasm', addon.maxPoolZeroPad),
    },
    {
      kernelName: MAX_POOL_ZERO_PAD_GRAD,
      backendName: 'wasm',
      kernelFunc: makeBackward('wasm', addon.maxPoolZeroPadGrad),
    },
  ];
}
