// Public surface of @tfjs-ddp/worker: the only package that imports TensorFlow.js.
export * from './backend/select-backend';
export { wasmTensorBytes, type WasmTensorBytes } from './backend/wasm-malloc';
export { activeAdapter, isSoftwareAdapter, openAdapter, shutdownWebGpu, type GpuAdapterDescription } from './backend/webgpu';
export { gpuBytesAllocated, withGpuErrorScopes, GPU_OUT_OF_MEMORY, GPU_DEVICE_LOST } from './backend/webgpu-scopes';
export { missingCudaLibraries, CUDA_LIBRARIES } from './backend/cuda-libraries';
export { registerFastKernels, nativeKernels, FAST_KERNEL_BACKENDS } from './kernels/fast-kernels';
// Our webgpu programs' recorder, for tools/step-counters.ts to time as it times tfjs' recordAndSubmit.
export { rawRecorder } from './kernels/webgpu/raw-dispatch';
// Our forward conv in either precision and our conv gradients, for bench:kernels to time
// TFJS_DDP_WEBGPU_F16's program and compare TFJS_DDP_WEBGPU_CONV=mma's with them.
export { convForward } from './kernels/webgpu/conv2d-forward-webgpu';
export { convBackpropInput } from './kernels/webgpu/conv2d-backprop-input-webgpu';
export { convBackpropFilter } from './kernels/webgpu/conv2d-backprop-filter-webgpu';
export { deviceHasF16 } from './kernels/webgpu/f16';
export { activeMma } from './kernels/webgpu/subgroup-matrix';
// GPU time per program over a step (bench:step --gpu-profile).
export { profileGpuPrograms, type GpuProfile } from './kernels/webgpu/gpu-profile';
export * from './model/densenet';
export { FastBatchNorm, fastBatchNormalization } from './model/fast-batch-norm';
export { InputConv2D, inputConv2d } from './model/input-conv2d';
export { fuseBatchNormRelu, type FusionReport } from './model/fuse-batch-norm-relu';
export { fuseConvBiasGradient } from './model/fuse-conv-bias-grad';
export { fusePadMaxPool } from './model/fuse-pad-max-pool';
export * from './train/input-pipeline';
export * from './train/gradient-layout';
export * from './train/trainer';
export * from './io/model-files';
export * from './engine/worker-engine';
export * from './engine/memory-errors';
export * from './engine/in-process-group';
export * from './io/evaluate-saved';
export * from './process/worker-process';
export { stepSpans, type StepMoments } from './process/step-spans';
export * from './train/score';
export * from './memory/memory-probe';
export * from './memory/fit-micro-batch';
export * from './engine/create-engine';
export { defineData, defineModel, type DataModule, type DataSplit, type Example, type ModelModule, type TaskContext, type TaskData, type TaskHelpers, type TaskSettings, type Tfjs } from './task/task-contract';
export { arraySplit, type ArraySplitOptions } from './task/helpers/array-split';
export { csvData, type CsvData, type CsvDataOptions } from './task/helpers/csv-data';
export { imageFolder, type ImageFolderData, type ImageFolderOptions } from './task/helpers/image-folder';
export { idxData, type IdxData, type IdxDataOptions } from './task/helpers/idx-data';
export { loadDataModule, loadModelModule, resolveTaskModule, SEED_TASK, type LoadedModule, type TaskModules } from './task/load-task';
export { buildTask, instantiateTask, type Task } from './task/task-runtime';
export { openTask, prepareTask, taskContext, taskModules, type TaskWorkerSettings } from './task/open-task';
export { checkTask, type TaskCheck } from './task/check-task';
