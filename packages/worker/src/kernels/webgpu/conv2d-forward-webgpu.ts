// Conv2D and FusedConv2D on the webgpu backend: conv2dForwardProgram (our WGSL) where it covers the
// layer (NHWC float32, output channels in multiples of 4, no dilation; bias and a linear or ReLU
// activation), the stock kernels elsewhere and everywhere with
// TFJS_DDP_WEBGPU_CONV=tfjs, which keeps tfjs' own forward conv for a comparison on a GPU
// (docs/gpu-check.md). On a device made for TFJS_DDP_WEBGPU_CONV=mma (activeMma) the layers ours
// covers run conv2dMmaProgram (subgroup matrices) instead. Registered by fast-kernels.ts.
import {
  backend_util,
  getKernel,
  type Conv2DAttrs,
  type FusedConv2DAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { forwardConvInfo } from '../conv-info';
import { conv2dForwardProgram, convForwardCovers } from './conv2d-forward-program';
import { conv2dMmaProgram } from './conv2d-mma-program';
import { webGpuF16Choice } from './f16';
import { rawRecorder as gpu } from './raw-dispatch';
import { activeMma, webGpuConvChoice, type MmaSetup } from './subgroup-matrix';

export { webGpuConvChoice } from './subgroup-matrix';

function run(
  args: Parameters<KernelFunc>[0],
  bias: TensorInfo | undefined,
  relu: boolean,
  fallback: KernelFunc | undefined,
  f16: boolean,
): TensorInfo {
  const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
  const info = forwardConvInfo(x, filter, args.attrs as unknown as Conv2DAttrs);
  const biasOk = bias === undefined || (bias.shape.length === 1 && bias.shape[0] === info.outChannels);
  const floats = [x, filter, ...(bias ? [bias] : [])].every((t) => t.dtype === 'float32');
  if (!convForwardCovers(info) || !biasOk || !floats) {
    if (fallback === undefined) throw new Error('Conv2D on webgpu: no stock kernel for this layout');
    return fallback(args) as TensorInfo;
  }
  const mma = activeMma();
  if (mma !== null) return convForwardMma(args.backend, info, [x, filter, bias], relu, mma);
  return convForward(args.backend, info, [x, filter, bias], relu, undefined, f16);
}

/** conv2dMmaProgram of x, filter (and bias) recorded on `backend`, in `setup`'s shape, or with `'fma'` products. */
export function convForwardMma(
  backend: object,
  info: backend_util.Conv2DInfo,
  [x, filter, bias]: [TensorInfo, TensorInfo, TensorInfo | undefined],
  relu: boolean,
  setup: Pick<MmaSetup, 'shape' | 'workgroupSize'>,
): TensorInfo {
  if (info.outShape.includes(0)) return gpu.empty(backend, info.outShape.slice());
  const { program, uniforms } = conv2dMmaProgram(info, {
    bias: bias !== undefined,
    relu,
    inner: setup.shape,
    workgroupSize: setup.workgroupSize,
  });
  const y = gpu.output(backend, info.outShape.slice());
  gpu.record(backend, program, [x, filter, ...(bias ? [bias] : []), y], uniforms);
  return y;
}

/**
 * Our forward conv of x, filter (and bias) as `info` says, recorded on `backend`; `fill` as
 * conv2dForwardProgram's; `f16` (TFJS_DDP_WEBGPU_F16=1) only on a device with shader-f16, which
 * activateWebGpu asks for wherever the adapter offers it.
 */
export function convForward(
  backend: object,
  info: backend_util.Conv2DInfo,
  [x, filter, bias]: [TensorInfo, TensorInfo, TensorInfo | undefined],
  relu: boolean,
  fill?: number,
  f16 = false,
): TensorInfo {
  // An empty output (an empty batch) has no buffer to bind, and needs none: tfjs' own kernel fails on it.
  if (info.outShape.includes(0)) return gpu.empty(backend, info.outShape.slice());
  const { program, uniforms } = conv2dForwardProgram(info, { bias: bias !== undefined, relu, f16 }, fill);
  const y = gpu.output(backend, info.outShape.slice());
  gpu.record(backend, program, [x, filter, ...(bias ? [bias] : []), y], uniforms);
  return y;
}

export function makeConv2DWebGpu(fallback?: KernelFunc, f16 = false): KernelFunc {
  return (args) => run(args, undefined, false, fallback, f16);
}

export function makeFusedConv2DWebGpu(fallback?: KernelFunc, f16 = false): KernelFunc {
  return (args) => {
    const { bias, preluActivationWeights } = args.inputs as {
      bias?: TensorInfo;
      preluActivationWeights?: TensorInfo;
    };
    const act = (args.attrs as unknown as FusedConv2DAttrs).activation ?? 'linear';
    if ((act !== 'linear' && act !== 'relu') || preluActivationWeights !== undefined) {
      if (fallback === undefined)
        throw new Error(`FusedConv2D on webgpu: no stock kernel for activation ${act}`);
      return fallback(args);
    }
    return run(args, bias, act === 'relu', fallback, f16);
  };
}

/** Captures the stock kernels as the fallbacks: call before registering these configs. None with TFJS_DDP_WEBGPU_CONV=tfjs. */
export function conv2DForwardWebGpuConfigs(): KernelConfig[] {
  if (webGpuConvChoice() === 'tfjs') return [];
  const conv = getKernel('Conv2D', 'webgpu')?.kernelFunc;
  const fused = getKernel('FusedConv2D', 'webgpu')?.kernelFunc;
  const f16 = webGpuF16Choice();
  return [
    { kernelName: 'Conv2D', backendName: 'webgpu', kernelFunc: makeConv2DWebGpu(conv, f16) },
    { kernelName: 'FusedConv2D', backendName: 'webgpu', kernelFunc: makeFusedConv2DWebGpu(fused, f16) },
  ];
}
