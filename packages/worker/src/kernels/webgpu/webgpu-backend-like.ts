// The one method of tfjs' WebGPUBackend that our webgpu kernels call and the program shape it takes,
// typed here so that the kernels need not import @tensorflow/tfjs-backend-webgpu (loaded lazily by
// backend/webgpu.ts).
import type { TensorInfo } from '@tensorflow/tfjs-core';

export interface ProgramUniform {
  type: 'int32' | 'uint32' | 'float32';
  data: number[];
}

export interface WebGpuBackendLike {
  runWebGPUProgram(program: WebGpuProgram, inputs: TensorInfo[], outputDtype: 'float32', uniforms?: ProgramUniform[]): TensorInfo;
}

/** The fields tfjs' `runWebGPUProgram` reads from a program (its WebGPUProgram interface). */
export interface WebGpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  variableNames: string[];
  variableComponents: number[];
  outputComponent: number;
  uniforms: string;
  size: boolean;
  getUserCode(): string;
}

const MAX_WORKGROUPS_PER_DIM = 65535;

/** A flat dispatch of `threads` invocations, folded into y when x would exceed the WebGPU limit. */
export function flatDispatch(threads: number, workgroupSize: number): [number, number, number] {
  const groups = Math.ceil(threads / workgroupSize);
  return groups <= MAX_WORKGROUPS_PER_DIM ? [groups, 1, 1] : [MAX_WORKGROUPS_PER_DIM, Math.ceil(groups / MAX_WORKGROUPS_PER_DIM), 1];
}
