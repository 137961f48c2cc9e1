// Conv2DBackpropFilter on the webgpu backend: runs Conv2DBackpropFilterProgram (our WGSL) in place
// of tfjs' stock shader, which gives each filter element its own invocation and a scalar serial loop
// over batch × output pixels. Registered by fast-kernels.ts; NCHW goes to the stock kernel.
import { backend_util, getKernel, type Conv2DBackpropFilterAttrs, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { Conv2DBackpropFilterProgram } from './conv2d-backprop-filter-program';
import { type WebGpuBackendLike } from './webgpu-backend-like';

export function makeConv2DBackpropFilterWebGpu(fallback?: KernelFunc): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as Conv2DBackpropFilterAttrs;
    if (dataFormat === 'NCHW' || x.dtype !== 'float32') {
      if (fallback === undefined) throw new Error('Conv2DBackpropFilter: only NHWC float32 is supported');
      return fallback(args);
    }
    const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode);
    const program = new Conv2DBackpropFilterProgram(info);
    return (backend as unknown as WebGpuBackendLike).runWebGPUProgram(program, [x, dy], 'float32', [
      { type: 'int32', data: [info.padInfo.top, info.padInfo.left] },
      { type: 'int32', data: [info.strideHeight, info.strideWidth] },
      { type: 'int32', data: [program.threads] },
    ]);
  };
}

/** Captures the stock kernel as the fallback: call before registering this config. */
export function conv2DBackpropFilterWebGpuConfig(): KernelConfig {
  const stock = getKernel('Conv2DBackpropFilter', 'webgpu')?.kernelFunc;
  return { kernelName: 'Conv2DBackpropFilter', backendName: 'webgpu', kernelFunc: makeConv2DBackpropFilterWebGpu(stock) };
}
