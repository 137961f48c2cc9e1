// tfjs' own programs recorded with the caches our programs use (raw-dispatch.ts). tfjs-backend-webgpu
// 4.22 fills a new uniform buffer and creates a bind group for every dispatch; a training step
// repeats the same programs on the same buffers with the same uniforms, so here a uniform buffer is
// made once per content and a bind group once per pipeline, buffers and uniform buffer. This serves
// every model: the kernels our own programs do not cover (a loss, a recurrent cell's element-wise
// work) run through it. Everything else is tfjs' recordAndSubmit as it is: the same uniforms in the
// same layout, the same pass, the same submit every WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE dispatches.
// While tfjs times programs (bench:step --gpu-profile) and for its pixel programs, tfjs' own runs.
// installDirectUploads: a tensor's host values go up with the queue's writeBuffer, without tfjs'
// mapped staging buffer per upload.
//
// It reaches into WebGPUBackend's fields (tfjs-backend-webgpu 4.22): those named in TfjsBackend.
import { env, util, type TensorInfo } from '@tensorflow/tfjs-core';
import { DdpError } from '@tfjs-ddp/core';
import { gpuValues } from './packed-read';
import { bindGroupCache, cachedUniformBuffer } from './raw-dispatch';

interface Uniform {
  type: 'int32' | 'uint32' | 'float32';
  data: number[];
}
interface TfjsProgram {
  pipeline: { getBindGroupLayout(i: number): unknown } | Promise<unknown>;
  pixelsOpType?: unknown;
  size?: boolean;
  outputShape: number[];
  outputComponent?: number;
  dispatch: [number, number, number];
}
interface Pass {
  setPipeline(p: unknown): void;
  setBindGroup(i: number, g: unknown): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void;
}
interface TensorData {
  dtype: string;
  shape: number[];
  values?: ArrayLike<number> | null;
  resource?: unknown;
}
interface TfjsBackend {
  device: {
    queue: {
      writeBuffer(b: unknown, o: number, d: ArrayBufferLike, dataOffset?: number, size?: number): void;
    };
  };
  tensorMap: { get(id: object): TensorData };
  bufferManager: { acquireBuffer(size: number, usage: number): unknown };
  uploadToGPU(dataId: object): void;
  activeTimers: unknown[] | null | undefined;
  commandQueueOwnedIds: WeakSet<object>;
  commandEncoder: { beginComputePass(d: object): Pass };
  computePassEncoder: Pass | null;
  dispatchCountInPass: number;
  tensorToBinding(t: TensorInfo): unknown;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  recordAndSubmit(program: TfjsProgram, output: TensorInfo, inputs: TensorInfo[], uniforms?: Uniform[]): void;
}

// GPUBufferUsage.STORAGE | COPY_SRC | COPY_DST (the WebGPU spec's values).
const STORAGE_COPY = 0x80 | 0x4 | 0x8;

/** WGSL's alignment of a uniform of `length` scalars, after one of `previous` (tfjs' makeUniforms). */
function alignment(length: number, previous: number): number {
  if (length < 1 || length > 6) throw new Error(`cached-dispatch: unsupported ${length}D uniform`);
  if (previous === 5 || previous === 6) return 16;
  return length === 1 ? 4 : length === 2 ? 8 : 16;
}

/** The uniform buffer's bytes, laid out as tfjs' makeUniforms lays them out. */
export function uniformBytes(uniforms: Uniform[]): ArrayBuffer {
  let offset = 0;
  let previous = 0;
  let maxAlign = 1;
  const offsets = uniforms.map((d) => {
    if (d.data.length === 0) d.data = [1];
    const align = alignment(d.data.length, previous);
    maxAlign = Math.max(maxAlign, align);
    offset = Math.ceil(offset / align) * align;
    previous = d.data.length;
    const at = offset;
    offset += d.data.length * 4;
    return at;
  });
  const bytes = new ArrayBuffer(Math.ceil(offset / maxAlign) * maxAlign);
  uniforms.forEach((d, i) => {
    const View = d.type === 'int32' ? Int32Array : d.type === 'uint32' ? Uint32Array : Float32Array;
    new View(bytes, offsets[i], d.data.length).set(d.data);
  });
  return bytes;
}

/** A key equal for equal uniform bytes (−0 and NaN keep their own). */
function uniformKey(uniforms: Uniform[]): string {
  // tfjs' layout, not raw-dispatch's scalars: keys of their own in the device's shared cache.
  let k = 'tfjs:';
  for (const d of uniforms) {
    k += d.type[0]!;
    for (const v of d.data) k += Object.is(v, -0) ? '-0,' : `${v},`;
    k += ';';
  }
  return k;
}

/** Replaces the backend's recordAndSubmit with the cached one (before its first program). */
export function installCachedDispatch(backend: object): void {
  const b = backend as TfjsBackend;
  const stock = b.recordAndSubmit.bind(b);
  const groups = bindGroupCache(b.device);
  b.recordAndSubmit = (program, output, inputs, programDefinedUniform) => {
    const pipeline = program.pipeline;
    if (b.activeTimers != null || program.pixelsOpType != null || pipeline instanceof Promise)
      return stock(program, output, inputs, programDefinedUniform);
    // tfjs' uniforms: NaN, Infinity, each buffer's shape and strides, the size, then the program's.
    const uniforms: Uniform[] = [
      { type: 'float32', data: [NaN] },
      { type: 'float32', data: [Infinity] },
    ];
    for (const t of [...inputs, output]) {
      uniforms.push({ type: 'int32', data: t.shape }, { type: 'int32', data: util.computeStrides(t.shape) });
    }
    if (program.size === true) {
      const size = util.sizeFromShape(program.outputShape);
      uniforms.push({
        type: 'int32',
        data: [program.outputComponent ? size / program.outputComponent : size],
      });
    }
    if (programDefinedUniform) uniforms.push(...programDefinedUniform);
    const uniformBuffer = cachedUniformBuffer(b.device, uniformKey(uniforms), () => uniformBytes(uniforms));
    // Buffers only: a texture's binding is a view made anew each time (tfjs' path for those).
    const buffers = [output, ...inputs].map(
      (t) => (b.tensorToBinding(t) as { buffer?: object } | null)?.buffer,
    );
    if (buffers.some((g) => g === undefined)) return stock(program, output, inputs, programDefinedUniform);
    for (const t of inputs) b.commandQueueOwnedIds.add(t.dataId);
    b.commandQueueOwnedIds.add(output.dataId);
    const bindGroup = groups.get(pipeline, buffers as object[], uniformBuffer);
    b.ensureCommandEncoderReady();
    b.computePassEncoder ??= b.commandEncoder.beginComputePass({});
    const pass = b.computePassEncoder;
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(program.dispatch[0], program.dispatch[1], program.dispatch[2]);
    b.dispatchCountInPass++;
    if ((env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') as number) <= b.dispatchCountInPass) {
      b.endComputePassEncoder();
      b.submitQueue();
    }
  };
}

/**
 * Replaces the backend's upload of a tensor's host values with the queue's writeBuffer into its
 * storage buffer: tfjs 4.22 makes a mapped staging buffer for every upload into a reused buffer and
 * destroys it after the submit (182 buffers a step for the gru example). The order is the same: a
 * buffer the pool hands out is in no command yet unsubmitted (tfjs releases a buffer bound in the
 * open command stream only at its submit), and the commands recorded after the upload read it after
 * the write. Other dtypes (and empty tensors) take tfjs' own upload.
 */
export function installDirectUploads(backend: object): void {
  const b = backend as TfjsBackend;
  const stock = b.uploadToGPU.bind(b);
  b.uploadToGPU = (dataId) => {
    const d = b.tensorMap.get(dataId);
    if (d.resource != null) return;
    const v = d.values;
    const n = util.sizeFromShape(d.shape);
    if (v == null || n === 0 || (d.dtype !== 'float32' && d.dtype !== 'int32' && d.dtype !== 'bool'))
      return stock(dataId);
    const data = gpuValues(d.dtype, v);
    const buffer = b.bufferManager.acquireBuffer(n * 4, STORAGE_COPY);
    b.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, n * 4);
    // As tfjs' upload leaves it: the values on the device only.
    d.values = null;
    d.resource = buffer;
  };
}

/** tfjs' default: a submit every 15 dispatches (WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE). */
export const DEFAULT_SUBMIT_EVERY = 15;

/**
 * TFJS_DDP_WEBGPU_SUBMIT_EVERY=N: a queue submit every N dispatches (tfjs' and ours) instead of
 * tfjs' 15. Fewer submits cost the host less; more let the GPU start sooner. Null where unset.
 * @throws DdpError E_CONFIG for anything but a whole number from 1 to 100000.
 */
export function webGpuSubmitEvery(env: Record<string, string | undefined>): number | null {
  const v = env['TFJS_DDP_WEBGPU_SUBMIT_EVERY'];
  if (v === undefined || v === '') return null;
  const n = Number(v);
  if (!/^[0-9]+$/.test(v) || n < 1 || n > 100_000)
    throw new DdpError(
      'E_CONFIG',
      `TFJS_DDP_WEBGPU_SUBMIT_EVERY=${v} is not a whole number from 1 to 100000`,
      `unset it (a submit every ${DEFAULT_SUBMIT_EVERY} dispatches, tfjs' default) or set it to the dispatches per submit`,
    );
  return n;
}
