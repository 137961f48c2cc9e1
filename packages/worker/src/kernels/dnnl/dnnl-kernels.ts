// Conv2D, FusedConv2D (bias, ReLU or none), Conv2DBackpropInput and Conv2DBackpropFilter for the
// wasm backend on oneDNN (dnnl-addon.ts): the output is allocated on the wasm heap by tfjs, and the
// addon computes in place from the inputs' heap offsets. Each kernel falls back to the kernel it
// replaces (the wasm replacement or the stock one) for what it does not take: NCHW, dilations,
// other activations, non-float32, empty tensors, or a geometry oneDNN rejects. Registered by
// fast-kernels.ts after the wasm kernels, so it captures them as its fallbacks.
import {
  backend_util,
  getKernel,
  type Conv2DAttrs,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropInputAttrs,
  type DataId,
  type FusedConv2DAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { CONV_FILTER_BIAS_GRAD } from '../conv-filter-bias-grad';
import { filterGradInfo, forwardConvInfo, inputGradInfo } from '../conv-info';
import type { WasmHeapBackend } from '../heap-access';
import { DNNL_OP, type DnnlBinding, type DnnlOp } from './dnnl-addon';

/** The wasm backend's internals these kernels use (tfjs-backend-wasm 4.22's BackendWasm). */
interface WasmBackend extends WasmHeapBackend {
  disposeData(id: DataId): boolean;
}

/** The kernels this module registers, in registration order. */
export const DNNL_KERNELS = ['Conv2D', 'FusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'] as const;

/** [N, H, W, Ci, KH, KW, Co, OH, OW, sh, sw, pt, pl, pb, pr, bias, relu] (dnnl_conv.cc's geom). */
export function dnnlGeometry(info: backend_util.Conv2DInfo, bias: boolean, relu: boolean): Int32Array {
  const p = info.padInfo;
  return Int32Array.from([
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.filterHeight,
    info.filterWidth,
    info.outChannels,
    info.outHeight,
    info.outWidth,
    info.strideHeight,
    info.strideWidth,
    p.top,
    p.left,
    p.bottom,
    p.right,
    bias ? 1 : 0,
    relu ? 1 : 0,
  ]);
}

/** Whether oneDNN can run this conv as given: NHWC, no dilation, no empty tensor. */
function supported(
  info: backend_util.Conv2DInfo,
  dataFormat: string | undefined,
  tensors: TensorInfo[],
): boolean {
  return (
    (dataFormat === undefined || dataFormat === 'NHWC') &&
    info.dilationHeight === 1 &&
    info.dilationWidth === 1 &&
    info.outHeight > 0 &&
    info.outWidth > 0 &&
    tensors.every((t) => t.dtype === 'float32' && t.shape.every((d) => d > 0))
  );
}

/**
 * Allocates `outShapes` on the heap, then runs `op` with the byte offsets of the first two inputs,
 * the outputs and the other inputs. The heap's ArrayBuffer is read after the allocations, which may
 * have grown (and replaced) it. Returns undefined, freeing the outputs, when oneDNN rejects the
 * geometry.
 */
function runInPlace(
  addon: DnnlBinding,
  backend: WasmBackend,
  op: DnnlOp,
  geom: Int32Array,
  inputs: TensorInfo[],
  outShapes: number[][],
  rejected: Set<string>,
): TensorInfo[] | undefined {
  const key = `${op}:${geom.join(',')}`;
  // The threaded wasm build's heap is a SharedArrayBuffer, which the addon does not take.
  if (rejected.has(key) || !(backend.wasm.HEAPU8.buffer instanceof ArrayBuffer)) return undefined;
  const outs = outShapes.map((s) => backend.makeOutput(s, 'float32'));
  const offset = (t: TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
  // forward: x, filter, y, bias; backward-data: dy, filter, dx; backward-weights: x, dy, dw (, dB).
  const offsets = Float64Array.from([inputs[0]!, inputs[1]!, ...outs, ...inputs.slice(2)].map(offset));
  try {
    addon.conv(op, backend.wasm.HEAPU8.buffer, offsets, geom);
    return outs;
  } catch (e) {
    outs.forEach((t) => backend.disposeData(t.dataId));
    if ((e as { code?: string }).code !== 'E_DNNL' || !String((e as Error).message).startsWith('oneDNN:'))
      throw e;
    rejected.add(key);
    return undefined;
  }
}

function fallbackOf(name: string): KernelFunc {
  const k = getKernel(name, 'wasm');
  if (k === undefined) throw new Error(`dnnl kernels: no wasm ${name} to fall back to`);
  return k.kernelFunc;
}

function conv2D(addon: DnnlBinding): KernelFunc {
  const fallback = fallbackOf('Conv2D');
  const rejected = new Set<string>();
  return (args) => {
    const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
    const { dataFormat } = args.attrs as unknown as Conv2DAttrs;
    const info = forwardConvInfo(x, filter, args.attrs as unknown as Conv2DAttrs);
    if (!supported(info, dataFormat, [x, filter])) return fallback(args);
    const geom = dnnlGeometry(info, false, false);
    const out = runInPlace(
      addon,
      args.backend as unknown as WasmBackend,
      DNNL_OP.forward,
      geom,
      [x, filter],
      [info.outShape],
      rejected,
    );
    return out?.[0] ?? fallback(args);
  };
}

function fusedConv2D(addon: DnnlBinding): KernelFunc {
  const fallback = fallbackOf('FusedConv2D');
  const rejected = new Set<string>();
  return (args) => {
    const { x, filter, bias, preluActivationWeights } = args.inputs as {
      x: TensorInfo;
      filter: TensorInfo;
      bias?: TensorInfo;
      preluActivationWeights?: TensorInfo;
    };
    const { dataFormat, activation } = args.attrs as unknown as FusedConv2DAttrs;
    const info = forwardConvInfo(x, filter, args.attrs as unknown as FusedConv2DAttrs);
    const act = activation ?? 'linear';
    const biasOk = bias === undefined || (bias.shape.length === 1 && bias.shape[0] === info.outChannels);
    if (
      !supported(info, dataFormat, [x, filter, ...(bias ? [bias] : [])]) ||
      !biasOk ||
      (act !== 'linear' && act !== 'relu') ||
      preluActivationWeights !== undefined
    ) {
      return fallback(args);
    }
    const geom = dnnlGeometry(info, bias !== undefined, act === 'relu');
    const inputs = bias === undefined ? [x, filter] : [x, filter, bias];
    const out = runInPlace(
      addon,
      args.backend as unknown as WasmBackend,
      DNNL_OP.forward,
      geom,
      inputs,
      [info.outShape],
      rejected,
    );
    return out?.[0] ?? fallback(args);
  };
}

function conv2DBackpropInput(addon: DnnlBinding): KernelFunc {
  const fallback = fallbackOf('Conv2DBackpropInput');
  const rejected = new Set<string>();
  return (args) => {
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const { dataFormat, inputShape } = args.attrs as unknown as Conv2DBackpropInputAttrs;
    const info = inputGradInfo(filter, args.attrs as unknown as Conv2DBackpropInputAttrs);
    if (!supported(info, dataFormat, [dy, filter]) || dy.shape.join() !== info.outShape.join())
      return fallback(args);
    const geom = dnnlGeometry(info, false, false);
    const out = runInPlace(
      addon,
      args.backend as unknown as WasmBackend,
      DNNL_OP.backwardData,
      geom,
      [dy, filter],
      [[...inputShape]],
      rejected,
    );
    return out?.[0] ?? fallback(args);
  };
}

function conv2DBackpropFilter(addon: DnnlBinding): KernelFunc {
  const fallback = fallbackOf('Conv2DBackpropFilter');
  const rejected = new Set<string>();
  return (args) => {
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const { dataFormat, filterShape } = args.attrs as unknown as Conv2DBackpropFilterAttrs;
    const info = filterGradInfo(x, args.attrs as unknown as Conv2DBackpropFilterAttrs);
    if (!supported(info, dataFormat, [x, dy]) || dy.shape.join() !== info.outShape.join())
      return fallback(args);
    const geom = dnnlGeometry(info, false, false);
    const out = runInPlace(
      addon,
      args.backend as unknown as WasmBackend,
      DNNL_OP.backwardWeights,
      geom,
      [x, dy],
      [[...filterShape]],
      rejected,
    );
    return out?.[0] ?? fallback(args);
  };
}

/**
 * CONV_FILTER_BIAS_GRAD: the filter and bias gradients from one oneDNN backward-weights primitive
 * (its diff_bias), instead of Conv2DBackpropFilter and a Sum over dY. Where oneDNN cannot take the
 * layout or geometry, those two kernels.
 */
function conv2DBackpropFilterBias(addon: DnnlBinding): KernelFunc {
  const filter = fallbackOf('Conv2DBackpropFilter');
  const sum = fallbackOf('Sum');
  const rejected = new Set<string>();
  return (args) => {
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const { dataFormat, filterShape } = args.attrs as unknown as Conv2DBackpropFilterAttrs;
    const fallback = () => [
      filter(args) as TensorInfo,
      sum({ inputs: { x: dy }, backend: args.backend, attrs: { axis: [0, 1, 2], keepDims: false } }) as TensorInfo,
    ];
    const info = filterGradInfo(x, args.attrs as unknown as Conv2DBackpropFilterAttrs);
    if (!supported(info, dataFormat, [x, dy]) || dy.shape.join() !== info.outShape.join()) return fallback();
    const geom = dnnlGeometry(info, true, false);
    const outs = runInPlace(
      addon,
      args.backend as unknown as WasmBackend,
      DNNL_OP.backwardWeights,
      geom,
      [x, dy],
      [[...filterShape], [info.outChannels]],
      rejected,
    );
    return outs ?? fallback();
  };
}

/** The filter-and-bias gradient kernel for 'wasm'; it captures the wasm Conv2DBackpropFilter and Sum now, as its fallback. */
export function dnnlFilterBiasConfig(addon: DnnlBinding): KernelConfig {
  return { kernelName: CONV_FILTER_BIAS_GRAD, backendName: 'wasm', kernelFunc: conv2DBackpropFilterBias(addon) };
}

/**
 * The oneDNN kernel configs for 'wasm'. Make them after the wasm replacements are registered: each
 * captures the kernel registered under its name now as its fallback.
 * @throws Error when the wasm backend has no kernel of one of these names to fall back to
 */
export function dnnlConvConfigs(addon: DnnlBinding): KernelConfig[] {
  const make = {
    Conv2D: conv2D,
    FusedConv2D: fusedConv2D,
    Conv2DBackpropInput: conv2DBackpropInput,
    Conv2DBackpropFilter: conv2DBackpropFilter,
  };
  return DNNL_KERNELS.map((kernelName) => ({
    kernelName,
    backendName: 'wasm',
    kernelFunc: make[kernelName](addon),
  }));
}
