// The name of the kernel that gives a conv layer's filter and bias gradients together, from x and dY
// ([dW, dB]; Conv2DBackpropFilter's inputs and attributes). The stock gradient of a fused conv runs
// Conv2DBackpropFilter and then a Sum of dY over batch × pixels (on webgpu: a Transpose and a
// reduction, two dispatches); a backend that registers this kernel sums dY while it reads it for
// the filter gradient. Registered on webgpu (webgpu/conv2d-backprop-filter-webgpu.ts) and, with the
// oneDNN addon, on wasm (dnnl/dnnl-kernels.ts: one backward-weights primitive with diff_bias); used by the
// training op of model/fuse-conv-bias-grad.ts wherever a backend has it.
export const CONV_FILTER_BIAS_GRAD = 'DdpConv2DBackpropFilterBias';
