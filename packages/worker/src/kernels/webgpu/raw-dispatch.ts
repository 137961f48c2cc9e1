// Our own way of recording a WGSL program into tfjs' webgpu command stream, for programs that
// tfjs' runWebGPUProgram cannot express: it binds one read_write output and read-only inputs, so a
// kernel with several outputs (a BatchNorm's y, mean, variance, 1/σ) costs a dispatch per output.
// Here the program is complete WGSL whose bindings 0..n−1 are the given tensors' buffers, in order,
// each declared read or read_write by the shader, and binding n its uniforms. It records into the
// backend's own command encoder and compute pass, counts towards its submit batch, and marks the
// buffers as owned by the queue exactly as tfjs does, so tensors disposed before the submit keep
// their buffers until it. Pipelines are compiled once per key and device.
//
// It reaches into WebGPUBackend's fields (tfjs-backend-webgpu 4.22, the last release): those named
// in RawBackend below.
import { env, type TensorInfo } from '@tensorflow/tfjs-core';
import type { ProgramUniform } from './webgpu-backend-like';

interface GpuPass {
  setPipeline(p: unknown): void;
  setBindGroup(i: number, g: unknown): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void;
}
interface GpuDevice {
  limits: { maxStorageBuffersPerShaderStage: number };
  createShaderModule(d: { code: string }): unknown;
  createComputePipeline(d: { layout: 'auto'; compute: { module: unknown; entryPoint: string } }): {
    getBindGroupLayout(i: number): unknown;
  };
  createBindGroup(d: { layout: unknown; entries: { binding: number; resource: unknown }[] }): unknown;
}

/** The WebGPUBackend fields and methods this file uses. */
interface RawBackend {
  device: GpuDevice;
  commandEncoder: { beginComputePass(d: object): GpuPass };
  computePassEncoder: GpuPass | null;
  dispatchCountInPass: number;
  commandQueueOwnedIds: WeakSet<object>;
  tensorMap: { get(id: object): { resource: unknown } };
  makeTensorInfo(shape: number[], dtype: 'float32'): TensorInfo;
  uploadToGPU(id: object): void;
  disposeData(id: object): boolean;
  makeUniforms(u: ProgramUniform[]): unknown;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

/** A complete WGSL compute program, `main` its entry point. */
export interface RawProgram {
  /** Pipeline cache key: equal keys must mean equal code. */
  key: string;
  code(): string;
  workgroups: [number, number, number];
}

const pipelines = new WeakMap<object, Map<string, { getBindGroupLayout(i: number): unknown }>>();

/** The largest workgroup count per dimension WebGPU guarantees. */
const MAX_GROUPS = 65535;

/** Workgroups for `threads` invocations of `size` each, folded into y past the per-dimension limit. */
export function rawWorkgroups(threads: number, size: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(threads / size));
  return groups <= MAX_GROUPS ? [groups, 1, 1] : [MAX_GROUPS, Math.ceil(groups / MAX_GROUPS), 1];
}

/**
 * The flat invocation index of a program dispatched with rawWorkgroups (WGSL, in `main`, given its
 * `gid` and `nwg` builtins and workgroup size `size`).
 */
export function rawIndex(size: number): string {
  return `i32(gid.y * nwg.x * ${size}u + gid.x)`;
}

/**
 * Records our programs into the backend's stream. An object so that a benchmark can count and time
 * `record` (tools/step-counters.ts) as it does tfjs' recordAndSubmit.
 */
export const rawRecorder = {
  /** Storage buffers one program may bind (the device's limit per shader stage). */
  storageBuffers(backend: object): number {
    return (backend as RawBackend).device.limits.maxStorageBuffersPerShaderStage;
  },

  /** A new float32 tensor of `shape` with its GPU buffer allocated (contents undefined). */
  output(backend: object, shape: number[]): TensorInfo {
    const b = backend as RawBackend;
    const t = b.makeTensorInfo(shape, 'float32');
    b.uploadToGPU(t.dataId);
    return t;
  },

  /** Records one dispatch of `program` over `buffers` (bindings 0..n−1) and `uniforms` (binding n). */
  record(backend: object, program: RawProgram, buffers: TensorInfo[], uniforms: ProgramUniform[]): void {
    const b = backend as RawBackend;
    let cache = pipelines.get(b.device);
    if (cache === undefined) pipelines.set(b.device, (cache = new Map()));
    let pipeline = cache.get(program.key);
    if (pipeline === undefined) {
      const module = b.device.createShaderModule({ code: program.code() });
      pipeline = b.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      cache.set(program.key, pipeline);
    }
    const entries: { binding: number; resource: unknown }[] = buffers.map((t, binding) => {
      b.uploadToGPU(t.dataId);
      b.commandQueueOwnedIds.add(t.dataId);
      return { binding, resource: { buffer: b.tensorMap.get(t.dataId).resource } };
    });
    entries.push({ binding: buffers.length, resource: b.makeUniforms(uniforms) });
    const bindGroup = b.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    b.ensureCommandEncoderReady();
    if (b.computePassEncoder === null || b.computePassEncoder === undefined)
      b.computePassEncoder = b.commandEncoder.beginComputePass({});
    const pass = b.computePassEncoder;
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(...program.workgroups);
    b.dispatchCountInPass++;
    if ((env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') as number) <= b.dispatchCountInPass) {
      b.endComputePassEncoder();
      b.submitQueue();
    }
  },

  /** Releases a temporary made by `output` (its buffer outlives it until the submit, if queued). */
  release(backend: object, t: TensorInfo): void {
    (backend as RawBackend).disposeData(t.dataId);
  },
};
