// WGSL for plain SGD on the webgpu backend, several variables per dispatch: w + c·g with c = −lr,
// one invocation per element of the group's variables laid end to end. Bindings: the group's
// gradient (its variables' slices of the mean gradient, contiguous in the layout), the k old values,
// then the k new values; the uniforms give c and where each variable ends. k is bounded by the
// device's storage buffers per shader stage (1 + 2k of them). tfjs' SGD runs two dispatches per
// variable (Multiply, Add). Run by train/device-sgd.ts through raw-dispatch.ts.
import type { ProgramUniform } from './webgpu-backend-like';
import { rawIndex, rawWorkgroups, type RawProgram } from './raw-dispatch';

const WG = 64;

/** Variables per dispatch for a device with `storageBuffers` storage buffers per shader stage. */
export function sgdGroupSize(storageBuffers: number): number {
  return Math.max(1, Math.floor((storageBuffers - 1) / 2));
}

/** The program for variables of `sizes` elements (all > 0), and its uniforms for step size c. */
export function sgdMultiProgram(
  sizes: number[],
  c: number,
): { program: RawProgram; uniforms: ProgramUniform[] } {
  const k = sizes.length;
  const ends: number[] = [];
  sizes.reduce((end, s) => (ends.push(end + s), end + s), 0);
  const total = ends[k - 1]!;
  const ids = sizes.map((_, j) => j);
  const fields = ids.map((j) => `e${j} : i32,`).join(' ');
  const decls = [
    '@group(0) @binding(0) var<storage, read> g : array<f32>;',
    ...ids.map((j) => `@group(0) @binding(${1 + j}) var<storage, read> w${j} : array<f32>;`),
    ...ids.map((j) => `@group(0) @binding(${1 + k + j}) var<storage, read_write> n${j} : array<f32>;`),
    `@group(0) @binding(${1 + 2 * k}) var<uniform> u : Uniforms;`,
  ].join('\n');
  // Written as the two stock kernels compute it, product then sum; WGSL lets a driver fuse them into
  // one FMA, so an element may differ from theirs in its last bit.
  const branches = ids
    .map((j) => {
      const local = j === 0 ? 'i' : `i - u.e${j - 1}`;
      return `  if (i < u.e${j}) { let j = ${local}; n${j}[j] = w${j}[j] + u.c * g[i]; return; }`;
    })
    .join('\n');
  const program: RawProgram = {
    key: `tfjsDdpSgdMulti_${k}`,
    workgroups: rawWorkgroups(total, WG),
    code: () => `struct Uniforms { c : f32, threads : i32, ${fields} };
${decls}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>) {
  let i = ${rawIndex(WG)};
  if (i >= u.threads) { return; }
${branches}
}`,
  };
  const uniforms: ProgramUniform[] = [
    { type: 'float32', data: [c] },
    { type: 'int32', data: [total] },
    ...ends.map((e) => ({ type: 'int32' as const, data: [e] })),
  ];
  return { program, uniforms };
}
