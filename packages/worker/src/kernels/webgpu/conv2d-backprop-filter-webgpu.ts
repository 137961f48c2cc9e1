// Conv2DBackpropFilter on the webgpu backend, and CONV_FILTER_BIAS_GRAD (the filter and bias
// gradients of a conv layer with bias in one dispatch, two when split over output rows): conv2dBackpropFilterProgram (our WGSL) in
// place of tfjs' stock shader, which gives each filter element its own invocation and a scalar
// serial loop over batch × output pixels. Registered by fast-kernels.ts; NCHW and other dtypes go to
// the stock Conv2DBackpropFilter (model/fuse-conv-bias-grad.ts calls CONV_FILTER_BIAS_GRAD for NHWC
// float32 only). On a device made for TFJS_DDP_WEBGPU_CONV=mma (activeMma), layers with channel
// counts in multiples of 4 run conv2dMmaFilterProgram (subgroup matrices) instead.
import {
  backend_util,
  getKernel,
  type Conv2DBackpropFilterAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { filterGradInfo } from '../conv-info';
import { CONV_FILTER_BIAS_GRAD } from '../conv-filter-bias-grad';
import { absMaxOf } from './abs-max-program';
import { conv2dBackpropFilterProgram } from './conv2d-backprop-filter-program';
import { conv2dMmaFilterProgram, mmaFilterCovers } from './conv2d-mma-filter-program';
import { rawRecorder as gpu } from './raw-dispatch';
import { activeMma, type MmaSetup } from './subgroup-matrix';

/** dW (and dB with `bias`) of x and dy, or null where our program does not apply. */
function run(args: Parameters<KernelFunc>[0], bias: boolean): TensorInfo[] | null {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as unknown as Conv2DBackpropFilterAttrs;
  if (a.dataFormat === 'NCHW' || x.dtype !== 'float32' || dy.dtype !== 'float32') return null;
  const info = filterGradInfo(x, a);
  const mma = activeMma();
  if (mma !== null && mmaFilterCovers(info) && !info.outShape.includes(0))
    return convBackpropFilterMma(backend, info, x, dy, bias, mma);
  return convBackpropFilter(backend, info, x, dy, bias);
}

/** Our float32 dW (and dB with `bias`) of x and dy as `info` says, recorded on `backend`. */
export function convBackpropFilter(
  backend: object,
  info: backend_util.Conv2DInfo,
  x: TensorInfo,
  dy: TensorInfo,
  bias: boolean,
): TensorInfo[] {
  const plan = conv2dBackpropFilterProgram(info, bias);
  const dw = gpu.output(backend, info.filterShape.slice());
  const db = bias ? [gpu.output(backend, [info.outChannels])] : [];
  if (plan.reduce === undefined) {
    gpu.record(backend, plan.program, [x, dy, dw, ...db], plan.uniforms);
    return [dw, ...db];
  }
  // Split over output rows: partial sums, then their ordered sum into dW and dB.
  const part = gpu.output(backend, [plan.partial]);
  gpu.record(backend, plan.program, [x, dy, part], plan.uniforms);
  gpu.record(backend, plan.reduce.program, [part, dw, ...db], plan.reduce.uniforms);
  gpu.release(backend, part);
  return [dw, ...db];
}

/** conv2dMmaFilterProgram's dW (and dB) of x and dy, in `setup`'s shape or with `'fma'` products. */
export function convBackpropFilterMma(
  backend: object,
  info: backend_util.Conv2DInfo,
  x: TensorInfo,
  dy: TensorInfo,
  bias: boolean,
  setup: Pick<MmaSetup, 'shape' | 'workgroupSize'>,
): TensorInfo[] {
  const dw = gpu.output(backend, info.filterShape.slice());
  const db = bias ? [gpu.output(backend, [info.outChannels])] : [];
  const plan = conv2dMmaFilterProgram(info, { bias, inner: setup.shape, workgroupSize: setup.workgroupSize });
  // max |dy| first: the program scales dy into f16's range by it (recorded once with dX's: absMaxOf).
  const dyMax = absMaxOf(backend, dy);
  const part = gpu.output(backend, [plan.partial]);
  gpu.record(backend, plan.program, [x, dy, dyMax, part], plan.uniforms);
  gpu.record(backend, plan.reduce.program, [part, dw, ...db], plan.reduce.uniforms);
  gpu.release(backend, part);
  return [dw, ...db];
}

export function makeConv2DBackpropFilterWebGpu(fallback?: KernelFunc): KernelFunc {
  return (args) => {
    const out = run(args, false);
    if (out !== null) return out[0]!;
    if (fallback === undefined) throw new Error('Conv2DBackpropFilter: only NHWC float32 is supported');
    return fallback(args);
  };
}

/** x, dy → [dW, dB] (NHWC float32). */
const filterBiasGrad: KernelFunc = (args) => {
  const out = run(args, true);
  if (out === null) throw new Error(`${CONV_FILTER_BIAS_GRAD}: only NHWC float32 is supported`);
  return out;
};

/** Captures the stock kernel as the fallback: call before registering these configs. */
export function conv2DBackpropFilterWebGpuConfigs(): KernelConfig[] {
  const stock = getKernel('Conv2DBackpropFilter', 'webgpu')?.kernelFunc;
  return [
    {
      kernelName: 'Conv2DBackpropFilter',
      backendName: 'webgpu',
      kernelFunc: makeConv2DBackpropFilterWebGpu(stock),
    },
    { kernelName: CONV_FILTER_BIAS_GRAD, backendName: 'webgpu', kernelFunc: filterBiasGrad },
  ];
}
