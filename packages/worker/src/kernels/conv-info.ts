// The geometry of a forward conv kernel call (Conv2D, FusedConv2D) from its inputs and attributes,
// for the kernels that replace tfjs' (oneDNN's on wasm, ours on webgpu).
import { backend_util, type Conv2DAttrs, type TensorInfo } from '@tensorflow/tfjs-core';

type Shape4 = [number, number, number, number];

/** backend_util's Conv2DInfo of x and filter under `attrs` (NHWC or NCHW as they say). */
export function forwardConvInfo(
  x: TensorInfo,
  filter: TensorInfo,
  attrs: Conv2DAttrs,
): backend_util.Conv2DInfo {
  const { strides, pad, dataFormat, dilations, dimRoundingMode } = attrs;
  return backend_util.computeConv2DInfo(
    x.shape as Shape4,
    filter.shape as Shape4,
    strides,
    dilations,
    pad,
    dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(dataFormat),
  );
}
