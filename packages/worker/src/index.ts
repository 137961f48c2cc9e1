// Public surface of @tfjs-ddp/worker: the only package that imports TensorFlow.js.
export * from './backend/select-backend';
export { missingCudaLibraries, CUDA_LIBRARIES } from './backend/cuda-libraries';
export { registerFastKernels, FAST_KERNEL_BACKENDS } from './kernels/fast-kernels';
export * from './model/densenet';
export { FastBatchNorm, fastBatchNormalization } from './model/fast-batch-norm';
export { InputConv2D, inputConv2d } from './model/input-conv2d';
export * from './train/input-pipeline';
export * from './train/gradient-layout';
export * from './train/trainer';
export * from './io/model-files';
export * from './engine/worker-engine';
export * from './engine/in-process-group';
export * from './io/evaluate-saved';
export * from './process/worker-process';
export * from './train/score';
export * from './memory/memory-probe';
export * from './memory/fit-micro-batch';
export * from './engine/create-engine';
