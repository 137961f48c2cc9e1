// WGSL for max |t| over a float32 tensor, in two dispatches: each workgroup reduces a strided share
// of the vec4s into one partial, then one workgroup reduces the partials into out[0]. NaN is carried
// (a NaN anywhere makes the result NaN), as the subgroup-matrix programs need to know that their
// f16 scale cannot be trusted. No atomics, so the result needs no cleared buffer and is the same
// every run. Used by conv2d-mma-program.ts's callers to scale gradients into f16's range; a conv
// layer's input and filter gradients read the same dy one after the other, so absMaxOf records it
// once for both.
import { rawRecorder as gpu, type RawProgram } from './raw-dispatch';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { ProgramUniform } from './webgpu-backend-like';

const WG = 256;
/** Most workgroups of the first pass: partials the second reduces in one workgroup. */
const MAX_GROUPS = 1024;

const int = (v: number): ProgramUniform => ({ type: 'int32', data: [v] });

/**
 * One pass over `src` (vec4s or scalars). The maximum is taken over the bit patterns with the sign
 * cleared: for such patterns integer order is float order, and a NaN's pattern is above infinity's,
 * so a NaN anywhere makes the result NaN. (WGSL lets a compiler assume floats are never NaN: a
 * float comparison cannot be trusted to see one; lavapipe's dropped it.)
 */
function pass(vec: boolean): RawProgram['code'] {
  const read = vec
    ? 'let v = src[i] & vec4<u32>(0x7fffffffu); m = max(m, max(max(v.x, v.y), max(v.z, v.w)));'
    : 'm = max(m, src[i] & 0x7fffffffu);';
  return () => `struct Uniforms { n : i32, };
@group(0) @binding(0) var<storage, read> src : array<${vec ? 'vec4<u32>' : 'u32'}>;
@group(0) @binding(1) var<storage, read_write> dst : array<u32>;
@group(0) @binding(2) var<uniform> u : Uniforms;
var<workgroup> wm : array<u32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) t : u32, @builtin(workgroup_id) wid : vec3<u32>,
        @builtin(num_workgroups) nwg : vec3<u32>) {
  var m = 0u;
  for (var i = i32(wid.x * ${WG}u + t); i < u.n; i += i32(nwg.x * ${WG}u)) { ${read} }
  wm[t] = m;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s / 2u) {
    if (t < s) { wm[t] = max(wm[t], wm[t + s]); }
    workgroupBarrier();
  }
  if (t == 0u) { dst[wid.x] = wm[0]; }
}`;
}

/** Records max |t| of the float32 tensor `t` (its size a multiple of 4) into a new 1-element tensor. */
export function recordAbsMax(backend: object, t: TensorInfo): TensorInfo {
  const n4 = t.shape.reduce((a, b) => a * b, 1) / 4;
  if (!Number.isInteger(n4)) throw new Error('recordAbsMax: the tensor size must be a multiple of 4');
  const groups = Math.max(1, Math.min(MAX_GROUPS, Math.ceil(n4 / (WG * 8))));
  const partial = gpu.output(backend, [groups]);
  const first = {
    key: 'tfjsDdpAbsMax_vec4',
    code: pass(true),
    workgroups: [groups, 1, 1] as [number, number, number],
  };
  gpu.record(backend, first, [t, partial], [int(n4)]);
  const out = gpu.output(backend, [1]);
  const second = {
    key: 'tfjsDdpAbsMax_f32',
    code: pass(false),
    workgroups: [1, 1, 1] as [number, number, number],
  };
  gpu.record(backend, second, [partial, out], [int(groups)]);
  gpu.release(backend, partial);
  return out;
}

/** The last max |t| absMaxOf recorded: on which backend, of which tensor data, and its result. */
let last: { backend: object; dataId: object; out: TensorInfo } | null = null;

/**
 * max |t| as recordAbsMax gives it, recorded once for calls in a row on the same tensor data (a
 * conv layer's dX and dW programs on its dy): the result is this cache's, which releases it when
 * the next tensor's replaces it, so callers do not release it. A tensor's data does not change
 * under the same data id (tfjs' tensors are immutable, and no program of ours writes its inputs).
 */
export function absMaxOf(backend: object, t: TensorInfo): TensorInfo {
  if (last !== null && last.backend === backend && last.dataId === t.dataId) return last.out;
  const out = recordAbsMax(backend, t);
  // (Another backend's is left to it: that backend may be gone.)
  if (last !== null && last.backend === backend) gpu.release(backend, last.out);
  last = { backend, dataId: t.dataId, out };
  return out;
}
