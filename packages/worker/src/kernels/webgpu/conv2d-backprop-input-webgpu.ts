// Conv2DBackpropInput on the webgpu backend: conv2dBackpropInputProgram (our WGSL) where the channel
// counts are multiples of 4 (every conv of the DenseNet but the stem, whose input gradient autodiff
// prunes), the stock kernel elsewhere. On a device made for TFJS_DDP_WEBGPU_CONV=mma (activeMma)
// those layers run conv2dMmaProgram (subgroup matrices) instead. Registered by fast-kernels.ts.
import { backend_util, getKernel, type Conv2DBackpropInputAttrs, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { inputGradInfo } from '../conv-info';
import { backpropInputCovers, conv2dBackpropInputProgram } from './conv2d-backprop-input-program';
import { absMaxOf } from './abs-max-program';
import { conv2dMmaProgram } from './conv2d-mma-program';
import { rawRecorder as gpu } from './raw-dispatch';
import { activeMma, type MmaSetup } from './subgroup-matrix';

export function makeConv2DBackpropInputWebGpu(fallback?: KernelFunc): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const info = inputGradInfo(filter, attrs as unknown as Conv2DBackpropInputAttrs);
    if (!backpropInputCovers(info) || dy.dtype !== 'float32' || filter.dtype !== 'float32') {
      if (fallback === undefined) throw new Error('Conv2DBackpropInput: only NHWC float32 with channels in multiples of 4 is supported');
      return fallback(args);
    }
    const mma = activeMma();
    if (mma !== null) return convBackpropInputMma(backend, info, dy, filter, mma);
    return convBackpropInput(backend, info, dy, filter);
  };
}

/** conv2dMmaProgram's input gradient of dy and filter, in `setup`'s shape or with `'fma'` products. */
export function convBackpropInputMma(
  backend: object,
  info: backend_util.Conv2DInfo,
  dy: TensorInfo,
  filter: TensorInfo,
  setup: Pick<MmaSetup, 'shape' | 'workgroupSize'>,
): TensorInfo {
  if (info.inShape.includes(0)) return gpu.empty(backend, info.inShape.slice());
  const { program, uniforms } = conv2dMmaProgram(info, {
    bias: false,
    relu: false,
    inner: setup.shape,
    workgroupSize: setup.workgroupSize,
    gradient: true,
  });
  // max |dy| first: the program scales dy into f16's range by it (conv2d-mma-program.ts); recorded
  // once for the layer's dX and dW (absMaxOf).
  const dyMax = absMaxOf(backend, dy);
  const dx = gpu.output(backend, info.inShape.slice());
  gpu.record(backend, program, [dy, filter, dyMax, dx], uniforms);
  return dx;
}

/** Our input gradient of dy and filter as `info` says, recorded on `backend`; `fill` as conv2dBackpropInputProgram's. */
export function convBackpropInput(
  backend: object,
  info: backend_util.Conv2DInfo,
  dy: TensorInfo,
  filter: TensorInfo,
  fill?: number,
): TensorInfo {
  if (info.inShape.includes(0)) return gpu.empty(backend, info.inShape.slice());
  const { program, uniforms } = conv2dBackpropInputProgram(info, fill);
  const dx = gpu.output(backend, info.inShape.slice());
  gpu.record(backend, program, [dy, filter, dx], uniforms);
  return dx;
}

/** Captures the stock kernel as the fallback: call before registering this config. */
export function conv2DBackpropInputWebGpuConfig(): KernelConfig {
  const stock = getKernel('Conv2DBackpropInput', 'webgpu')?.kernelFunc;
  return { kernelName: 'Conv2DBackpropInput', backendName: 'webgpu', kernelFunc: makeConv2DBackpropInputWebGpu(stock) };
}
