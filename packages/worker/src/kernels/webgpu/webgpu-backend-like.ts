// The one method of tfjs' WebGPUBackend that our webgpu kernels call, typed here so that the
// kernels need not import @tensorflow/tfjs-backend-webgpu (loaded lazily by backend/webgpu.ts).
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGpuProgram } from './conv2d-backprop-filter-program';

export interface ProgramUniform {
  type: 'int32' | 'uint32' | 'float32';
  data: number[];
}

export interface WebGpuBackendLike {
  runWebGPUProgram(program: WebGpuProgram, inputs: TensorInfo[], outputDtype: 'float32', uniforms?: ProgramUniform[]): TensorInfo;
}
