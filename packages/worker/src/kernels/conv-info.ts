// The geometry of a conv kernel call (Conv2D and FusedConv2D, and both gradients) from its inputs and
// attributes, for the kernels that replace tfjs' (oneDNN's on wasm, ours in JS, SIMD and on webgpu).
import {
  backend_util,
  type Conv2DAttrs,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropInputAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs-core';

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

/** The Conv2DInfo of a Conv2DBackpropInput call: the forward conv whose input gradient it is. */
export function inputGradInfo(filter: TensorInfo, attrs: Conv2DBackpropInputAttrs): backend_util.Conv2DInfo {
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs;
  return backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as Shape4,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(dataFormat),
  );
}

/** The Conv2DInfo of a Conv2DBackpropFilter call on NHWC `x`. */
export function filterGradInfo(x: TensorInfo, attrs: Conv2DBackpropFilterAttrs): backend_util.Conv2DInfo {
  const { strides, pad, dimRoundingMode, filterShape } = attrs;
  return backend_util.computeConv2DInfo(x.shape as Shape4, filterShape, strides, 1, pad, dimRoundingMode);
}
