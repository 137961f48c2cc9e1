// Our own way of recording a WGSL program into tfjs' webgpu command stream, for programs that
// tfjs' runWebGPUProgram cannot express: it binds one read_write output and read-only inputs, so a
// kernel with several outputs (a BatchNorm's y, mean, variance, 1/σ) costs a dispatch per output.
// Here the program is complete WGSL whose bindings 0..n−1 are the given tensors' buffers, in order,
// each declared read or read_write by the shader, and binding n its uniforms. It records into the
// backend's own command encoder and compute pass, counts towards its submit batch, and marks the
// buffers as owned by the queue exactly as tfjs does, so tensors disposed before the submit keep
// their buffers until it. Pipelines are compiled once per key and device; uniform buffers are made
// once per content and bind groups once per program and buffers (DeviceCache below), where tfjs
// fills a uniform buffer and creates a bind group for every dispatch.
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
  queue: {
    writeBuffer(
      buffer: unknown,
      offset: number,
      data: ArrayBufferLike,
      dataOffset?: number,
      size?: number,
    ): void;
  };
  createBuffer(d: { size: number; usage: number }): unknown;
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
  /** Set while tfjs times programs (its time(), or bench:step --gpu-profile): each gets its own timed pass. */
  activeTimers?: { name: string; query: Promise<number> }[] | null;
  supportTimestampQuery?: boolean;
  querySet?: unknown;
  querySetCount?: number;
  getQueryTime?(): Promise<number>;
  dispatchCountInPass: number;
  commandQueueOwnedIds: WeakSet<object>;
  tensorMap: { get(id: object): { resource: unknown } };
  makeTensorInfo(shape: number[], dtype: 'float32' | 'int32', values?: Float32Array): TensorInfo;
  uploadToGPU(id: object): void;
  disposeData(id: object): boolean;
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

/**
 * What a device keeps across dispatches. A training step records the same programs over the same
 * shapes every step, and tfjs' buffer pool hands the same buffers back for the same sizes, so after
 * the first step most dispatches find their bind group here: no uniform buffer to fill, no bind
 * group to create.
 */
interface DeviceCache {
  pipelines: Map<string, { pipeline: unknown; layout: unknown }>;
  /** Uniform buffers by content (a step uses a few hundred; forgotten past MAX_UNIFORMS). */
  uniforms: Map<string, object>;
  /** Bind groups by pipeline key, buffer ids and uniform buffer id. */
  bindGroups: Map<string, unknown>;
  ids: WeakMap<object, number>;
  next: number;
}

const caches = new WeakMap<object, DeviceCache>();

/**
 * Past this many, the uniform buffers are forgotten (a model whose shapes change from step to step
 * would pile them up): not destroyed, since the commands not yet submitted may bind them; each goes
 * when its last bind group does.
 */
const MAX_UNIFORMS = 4096;

/** Past this many, the bind groups are forgotten (buffers the pool has since destroyed pile up). */
const MAX_BIND_GROUPS = 8192;

function cacheOf(device: GpuDevice): DeviceCache {
  let c = caches.get(device);
  if (c === undefined)
    caches.set(
      device,
      (c = { pipelines: new Map(), uniforms: new Map(), bindGroups: new Map(), ids: new WeakMap(), next: 1 }),
    );
  return c;
}

function idOf(c: DeviceCache, o: object): number {
  let id = c.ids.get(o);
  if (id === undefined) c.ids.set(o, (id = c.next++));
  return id;
}

/**
 * The bind group over `buffers` (bindings 0..n−1) and `uniform` (binding n) for the pipeline
 * `pipelineKey` names, whose layout is `layout`: made once per pipeline, buffers and uniform buffer.
 */
function bindGroupOf(
  device: GpuDevice,
  c: DeviceCache,
  pipelineKey: string,
  layout: unknown,
  buffers: object[],
  uniform: object,
): unknown {
  let key = `${pipelineKey}|`;
  for (const g of buffers) key += `${idOf(c, g)},`;
  key += `|${idOf(c, uniform)}`;
  let bindGroup = c.bindGroups.get(key);
  if (bindGroup === undefined) {
    const entries = [
      ...buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
      { binding: buffers.length, resource: { buffer: uniform } },
    ];
    bindGroup = device.createBindGroup({ layout, entries });
    if (c.bindGroups.size >= MAX_BIND_GROUPS) c.bindGroups.clear();
    c.bindGroups.set(key, bindGroup);
  }
  return bindGroup;
}

/**
 * The bind-group cache of `device` for pipelines made elsewhere (tfjs' own, cached-dispatch.ts):
 * `get` as bindGroupOf, the pipeline named by its identity and its layout asked of it once.
 */
export function bindGroupCache(device: object): {
  get(pipeline: { getBindGroupLayout(i: number): unknown }, buffers: object[], uniform: object): unknown;
} {
  const d = device as GpuDevice;
  const c = cacheOf(d);
  const layouts = new WeakMap<object, unknown>();
  return {
    get(pipeline, buffers, uniform) {
      let layout = layouts.get(pipeline);
      if (layout === undefined) layouts.set(pipeline, (layout = pipeline.getBindGroupLayout(0)));
      return bindGroupOf(d, c, `tfjs#${idOf(c, pipeline)}`, layout, buffers, uniform);
    },
  };
}

/**
 * The uniform buffer of `device` whose content `key` names, made once (with `bytes()`) and then
 * shared by every dispatch with that key: ours (uniformBuffer) and tfjs' (cached-dispatch.ts, whose
 * keys have their own prefix).
 */
export function cachedUniformBuffer(device: object, key: string, bytes: () => ArrayBuffer): object {
  const d = device as GpuDevice;
  const c = cacheOf(d);
  let entry = c.uniforms.get(key);
  if (entry === undefined) {
    const data = bytes();
    const usage = (globalThis as unknown as { GPUBufferUsage: { UNIFORM: number; COPY_DST: number } })
      .GPUBufferUsage;
    const buffer = d.createBuffer({ size: data.byteLength, usage: usage.UNIFORM | usage.COPY_DST });
    d.queue.writeBuffer(buffer, 0, data);
    if (c.uniforms.size >= MAX_UNIFORMS) c.uniforms.clear();
    c.uniforms.set(key, (entry = buffer as object));
  }
  return entry;
}

/**
 * A uniform buffer holding `uniforms` (scalars, 4 bytes each, in order), made once per content. The
 * key is the values as given, so that a repeated dispatch packs no bytes (values that differ but
 * round to the same float32 get a buffer each, with the same bytes).
 */
function uniformBuffer(device: GpuDevice, uniforms: ProgramUniform[]): object {
  let key = '';
  for (const u of uniforms) {
    if (u.data.length !== 1) throw new Error('raw-dispatch: uniforms are scalars');
    const v = u.data[0]!;
    key += `${u.type[0]!}${Object.is(v, -0) ? '-0' : v},`;
  }
  return cachedUniformBuffer(device, key, () => {
    const data = new ArrayBuffer(Math.max(16, Math.ceil((uniforms.length * 4) / 16) * 16));
    const view = new DataView(data);
    uniforms.forEach((u, i) => {
      if (u.type === 'float32') view.setFloat32(i * 4, u.data[0]!, true);
      else if (u.type === 'uint32') view.setUint32(i * 4, u.data[0]!, true);
      else view.setInt32(i * 4, u.data[0]!, true);
    });
    return data;
  });
}

/** Results remembered per builder before memoized() forgets them all (a step builds a few hundred). */
const MAX_MEMO = 4096;

/**
 * `build` remembered by its arguments, keyed by their JSON: integers, booleans, strings, null, and
 * plain objects and arrays of them (JSON would not tell -0 from 0, nor NaN from Infinity: keep such
 * numbers out, as uniforms). A training step calls the same program builders with the same
 * arguments every step; building their WGSL each time cost the host about 2 ms per step (the seed,
 * Dawn's null backend). What it returns is shared: callers must not change it.
 */
export function memoized<A extends unknown[], R>(build: (...args: A) => R): (...args: A) => R {
  const seen = new Map<string, R>();
  return (...args: A) => {
    const k = JSON.stringify(args);
    let r = seen.get(k);
    if (r === undefined) {
      if (seen.size >= MAX_MEMO) seen.clear();
      seen.set(k, (r = build(...args)));
    }
    return r;
  };
}

/** Invocations that fill a large GPU (an H200 keeps ~270k resident): what our conv programs aim for. */
export const GPU_FILL_THREADS = 131_072;

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

  /** A new tensor of `shape` (float32 unless said) with its GPU buffer allocated (contents undefined). */
  output(backend: object, shape: number[], dtype: 'float32' | 'int32' = 'float32'): TensorInfo {
    const b = backend as RawBackend;
    const t = b.makeTensorInfo(shape, dtype);
    b.uploadToGPU(t.dataId);
    return t;
  },

  /**
   * A new float32 tensor of `shape` holding `values`, written with the queue's writeBuffer (Dawn
   * copies them at once): no mapped staging buffer made and destroyed, as tfjs' upload of a tensor
   * made from values does. Safe because a buffer the pool hands out is in no unsubmitted command:
   * tfjs and `record` release a buffer bound in the open command stream only at its submit, which
   * is what tfjs' uniform buffers, written the same way, rely on.
   */
  input(backend: object, shape: number[], values: Float32Array): TensorInfo {
    const b = backend as RawBackend;
    const t = rawRecorder.output(backend, shape);
    const buffer = b.tensorMap.get(t.dataId).resource;
    b.device.queue.writeBuffer(buffer, 0, values.buffer, values.byteOffset, values.byteLength);
    return t;
  },

  /** A new tensor of `shape` with no elements: its (empty) values on the host, nothing to allocate or bind. */
  empty(backend: object, shape: number[]): TensorInfo {
    return (backend as RawBackend).makeTensorInfo(shape, 'float32', new Float32Array(0));
  },

  /** Records one dispatch of `program` over `buffers` (bindings 0..n−1) and `uniforms` (binding n). */
  record(backend: object, program: RawProgram, buffers: TensorInfo[], uniforms: ProgramUniform[]): void {
    const b = backend as RawBackend;
    const c = cacheOf(b.device);
    let compiled = c.pipelines.get(program.key);
    if (compiled === undefined) {
      const module = b.device.createShaderModule({ code: program.code() });
      const pipeline = b.device.createComputePipeline({
        layout: 'auto',
        compute: { module, entryPoint: 'main' },
      });
      c.pipelines.set(program.key, (compiled = { pipeline, layout: pipeline.getBindGroupLayout(0) }));
    }
    const gpuBuffers = buffers.map((t) => {
      b.uploadToGPU(t.dataId);
      b.commandQueueOwnedIds.add(t.dataId);
      return b.tensorMap.get(t.dataId).resource as object;
    });
    const u = uniformBuffer(b.device, uniforms);
    const bindGroup = bindGroupOf(b.device, c, program.key, compiled.layout, gpuBuffers, u);
    b.ensureCommandEncoderReady();
    // While tfjs times programs, a pass of its own with timestamps, as its runWebGPUProgram does.
    const timed = b.activeTimers !== null && b.activeTimers !== undefined && b.getQueryTime !== undefined;
    if (timed && b.supportTimestampQuery === true) {
      b.endComputePassEncoder();
      b.querySet ??= (b.device as unknown as { createQuerySet(d: object): unknown }).createQuerySet({
        type: 'timestamp',
        count: b.querySetCount ?? 2,
      });
      b.computePassEncoder = b.commandEncoder.beginComputePass({
        timestampWrites: { querySet: b.querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 },
      });
    } else if (b.computePassEncoder === null || b.computePassEncoder === undefined)
      b.computePassEncoder = b.commandEncoder.beginComputePass({});
    const pass = b.computePassEncoder;
    pass.setPipeline(compiled.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(...program.workgroups);
    b.dispatchCountInPass++;
    if (timed) {
      b.endComputePassEncoder();
      b.activeTimers!.push({ name: program.key, query: b.getQueryTime!() });
      return;
    }
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
