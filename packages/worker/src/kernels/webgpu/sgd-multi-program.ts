// WGSL for plain SGD and momentum SGD on the webgpu backend, several variables per dispatch, one
// invocation per element of the group's variables laid end to end:
// - sgd: w' = w + c·g;
// - momentum: a' = m·a + g, w' = c·a' + w (Nesterov: w' = c·(g + a'·m) + w);
// with c = −lr, m the momentum, as tfjs' SGD and MomentumOptimizer compute them. Bindings: the
// group's gradient (its variables' slices of the mean gradient, contiguous in the layout), the k old
// values (and with momentum the k old accumulations), then the k new values (and accumulations); the
// uniforms give c, m and where each variable ends. k is bounded by the device's storage buffers per
// shader stage (sgdGroupSize). tfjs runs two (SGD) or four to five (momentum) dispatches per
// variable. Run by train/device-sgd.ts through raw-dispatch.ts.
import type { ProgramUniform } from './webgpu-backend-like';
import { rawIndex, rawWorkgroups, type RawProgram } from './raw-dispatch';

const WG = 64;

export type DeviceRule = 'sgd' | 'momentum' | 'nesterov';

/** Variables per dispatch for a device with `storageBuffers` storage buffers per shader stage. */
export function sgdGroupSize(storageBuffers: number, rule: DeviceRule = 'sgd'): number {
  const perVariable = rule === 'sgd' ? 2 : 4;
  return Math.max(1, Math.floor((storageBuffers - 1) / perVariable));
}

/** The program for variables of `sizes` elements (all > 0), and its uniforms for c = −lr and momentum m. */
export function sgdMultiProgram(
  sizes: number[],
  c: number,
  rule: DeviceRule = 'sgd',
  m = 0,
): { program: RawProgram; uniforms: ProgramUniform[] } {
  const k = sizes.length;
  const ends: number[] = [];
  sizes.reduce((end, s) => (ends.push(end + s), end + s), 0);
  const total = ends[k - 1]!;
  const ids = sizes.map((_, j) => j);
  const slots = rule === 'sgd' ? ['w'] : ['w', 'a'];
  const fields = ids.map((j) => `e${j} : i32,`).join(' ');
  const decls = [
    '@group(0) @binding(0) var<storage, read> g : array<f32>;',
    ...slots.flatMap((s, si) =>
      ids.map((j) => `@group(0) @binding(${1 + si * k + j}) var<storage, read> ${s}${j} : array<f32>;`),
    ),
    ...slots.flatMap((s, si) =>
      ids.map(
        (j) =>
          `@group(0) @binding(${1 + (slots.length + si) * k + j}) var<storage, read_write> n${s}${j} : array<f32>;`,
      ),
    ),
    `@group(0) @binding(${1 + 2 * slots.length * k}) var<uniform> u : Uniforms;`,
  ].join('\n');
  // Written as the stock kernels compute them, products then sums; WGSL lets a driver fuse a product
  // and a sum into one FMA, so an element may differ from theirs in its last bit.
  const update = (j: number) => {
    if (rule === 'sgd') return `nw${j}[j] = w${j}[j] + u.c * g[i];`;
    const value = rule === 'nesterov' ? `u.c * (g[i] + acc * u.m) + w${j}[j]` : `u.c * acc + w${j}[j]`;
    return `let acc = u.m * a${j}[j] + g[i]; na${j}[j] = acc; nw${j}[j] = ${value};`;
  };
  const branches = ids
    .map((j) => `  if (i < u.e${j}) { let j = ${j === 0 ? 'i' : `i - u.e${j - 1}`}; ${update(j)} return; }`)
    .join('\n');
  const program: RawProgram = {
    key: `tfjsDdpSgdMulti_${rule}_${k}`,
    workgroups: rawWorkgroups(total, WG),
    code: () => `struct Uniforms { c : f32, m : f32, threads : i32, ${fields} };
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
    { type: 'float32', data: [m] },
    { type: 'int32', data: [total] },
    ...ends.map((e) => ({ type: 'int32' as const, data: [e] })),
  ];
  return { program, uniforms };
}
