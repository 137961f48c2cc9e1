// Conv2DBackpropInput on the webgpu backend: runs Conv2DBackpropInputProgram (our WGSL) where the
// channel counts are multiples of 4 (every conv of the DenseNet but the stem, whose input gradient
// autodiff prunes), the stock kernel elsewhere. Registered by fast-kernels.ts.
import { backend_util, getKernel, type Conv2DBackpropInputAttrs, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { Conv2DBackpropInputProgram } from './conv2d-backprop-input-program';
import { type WebGpuBackendLike } from './webgpu-backend-like';

export function makeConv2DBackpropInputWebGpu(fallback?: KernelFunc): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as Conv2DBackpropInputAttrs;
    const info = backend_util.computeConv2DInfo(
      inputShape,
      filter.shape as [number, number, number, number],
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      backend_util.convertConv2DDataFormat(dataFormat),
    );
    if (!Conv2DBackpropInputProgram.covers(info) || dy.dtype !== 'float32') {
      if (fallback === undefined) throw new Error('Conv2DBackpropInput: only NHWC float32 with channels in multiples of 4 is supported');
      return fallback(args);
    }
    const program = new Conv2DBackpropInputProgram(info);
    return (backend as unknown as WebGpuBackendLike).runWebGPUProgram(program, [dy, filter], 'float32', [
      { type: 'int32', data: [info.padInfo.top, info.padInfo.left] },
      { type: 'int32', data: [info.strideHeight, info.strideWidth] },
      { type: 'int32', data: [program.threads] },
    ]);
  };
}

/** Captures the stock kernel as the fallback: call before registering this config. */
export function conv2DBackpropInputWebGpuConfig(): KernelConfig {
  const stock = getKernel('Conv2DBackpropInput', 'webgpu')?.kernelFunc;
  return { kernelName: 'Conv2DBackpropInput', backendName: 'webgpu', kernelFunc: makeConv2DBackpropInputWebGpu(stock) };
}
