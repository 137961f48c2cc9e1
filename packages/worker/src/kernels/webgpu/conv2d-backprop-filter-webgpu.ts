// Conv2DBackpropFilter on the webgpu backend, and CONV_FILTER_BIAS_GRAD (the filter and bias
// gradients of a conv layer with bias in one dispatch, two when split over output rows): conv2dBackpropFilterProgram (our WGSL) in
// place of tfjs' stock shader, which gives each filter element its own invocation and a scalar
// serial loop over batch × output pixels. Registered by fast-kernels.ts; NCHW and other dtypes go to
// the stock Conv2DBackpropFilter (model/fuse-conv-bias-grad.ts calls CONV_FILTER_BIAS_GRAD for NHWC
// float32 only).
import {
  getKernel,
  type Conv2DBackpropFilterAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { filterGradInfo } from '../conv-info';
import { CONV_FILTER_BIAS_GRAD } from '../conv-filter-bias-grad';
import { conv2dBackpropFilterProgram } from './conv2d-backprop-filter-program';
import { rawRecorder as gpu } from './raw-dispatch';

/** dW (and dB with `bias`) of x and dy, or null where our program does not apply. */
function run(args: Parameters<KernelFunc>[0], bias: boolean): TensorInfo[] | null {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as unknown as Conv2DBackpropFilterAttrs;
  if (a.dataFormat === 'NCHW' || x.dtype !== 'float32' || dy.dtype !== 'float32') return null;
  const info = filterGradInfo(x, a);
  const { filterShape } = a;
  const plan = conv2dBackpropFilterProgram(info, bias);
  const dw = gpu.output(backend, filterShape.slice());
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
