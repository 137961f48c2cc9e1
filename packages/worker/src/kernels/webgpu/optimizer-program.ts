// WGSL for the optimizer update on the webgpu backend, several variables per dispatch, one
// invocation per element of the group's variables laid end to end, as tfjs' optimizers compute it:
// - sgd: w' = w + c·g, with c = −lr;
// - momentum: a' = m·a + g, w' = c·a' + w (Nesterov: w' = c·(g + a'·m) + w);
// - adam: m' = m·β₁ + g·(1 − β₁), v' = v·β₂ + g²·(1 − β₂), w' = (m'/c₁)/(√(v'/c₂) + ε)·c + w, with
//   c₁ = 1 − β₁ᵗ and c₂ = 1 − β₂ᵗ from the host;
// - rmsprop: s' = s·ρ + g²·(1 − ρ), m' = m·μ + (g·lr)/√(s' + ε), w' = w − m' (centered: ḡ' = ḡ·ρ +
//   g·(1 − ρ) and the root of s' − (ḡ'² + ε)), ρ the decay in b1, μ the momentum, lr = −c.
// g is the mean gradient: the summed gradient as the all-reduce leaves it, times the uniform scale
// (1 / the global batch). Bindings: the summed gradient (the group's variables' slices are
// contiguous in the layout, from the uniform g0 on), each slot's k old arrays (w, then a or m and
// v), then their k new arrays in the same order; the uniforms give the scalars and where each
// variable ends. k is bounded by the device's
// storage buffers per shader stage (groupSize). tfjs runs two (SGD), four to five (momentum) or
// about twelve (Adam) dispatches per variable. Run by train/device-optimizers.ts through
// raw-dispatch.ts.
import type { ProgramUniform } from './webgpu-backend-like';
import { memoized, rawIndex, rawWorkgroups, type RawProgram } from './raw-dispatch';

const WG = 64;

export type DeviceRule = 'sgd' | 'momentum' | 'nesterov' | 'adam' | 'rmsprop' | 'rmsprop-centered';

/** The scalars of an update (those a rule does not use are 0). */
export interface UpdateScalars {
  /** −lr. */
  c: number;
  /** Momentum. */
  m?: number;
  /** β₁ (Adam), or RMSProp's decay ρ. */
  b1?: number;
  b2?: number;
  eps?: number;
  /** 1 − β₁ᵗ and 1 − β₂ᵗ. */
  c1?: number;
  c2?: number;
}

/** The slots of a rule: the variable's values, then the optimizer's per-variable state. */
function slots(rule: DeviceRule): string[] {
  if (rule === 'sgd') return ['w'];
  if (rule === 'adam') return ['w', 'm', 'v'];
  if (rule === 'rmsprop') return ['w', 's', 'a'];
  if (rule === 'rmsprop-centered') return ['w', 's', 'a', 'mg'];
  return ['w', 'a'];
}

/** Variables per dispatch for a device with `storageBuffers` storage buffers per shader stage. */
export function groupSize(storageBuffers: number, rule: DeviceRule = 'sgd'): number {
  return Math.max(1, Math.floor((storageBuffers - 1) / (2 * slots(rule).length)));
}

/** The update of element j of variable k (i: its index in the gradient). */
function update(rule: DeviceRule, k: number): string {
  // Written as the stock kernels compute it, products then sums; WGSL lets a driver fuse a product
  // and a sum into one FMA, so an element may differ from theirs in its last bit.
  if (rule === 'sgd') return `nw${k}[j] = w${k}[j] + u.c * gv;`;
  if (rule === 'adam')
    return `let m1 = m${k}[j] * u.b1 + gv * u.rest1; let v1 = v${k}[j] * u.b2 + (gv * gv) * u.rest2; nm${k}[j] = m1; nv${k}[j] = v1; nw${k}[j] = ((m1 / u.c1) / (sqrt(v1 / u.c2) + u.eps)) * u.c + w${k}[j];`;
  if (rule === 'rmsprop' || rule === 'rmsprop-centered') {
    const s = `let s1 = s${k}[j] * u.b1 + (gv * gv) * u.rest1; ns${k}[j] = s1;`;
    const root = rule === 'rmsprop' ? 'sqrt(s1 + u.eps)' : `sqrt(s1 - (mg1 * mg1 + u.eps))`;
    const mg = rule === 'rmsprop' ? '' : ` let mg1 = mg${k}[j] * u.b1 + gv * u.rest1; nmg${k}[j] = mg1;`;
    return `${s}${mg} let a1 = a${k}[j] * u.m + (gv * -u.c) / ${root}; na${k}[j] = a1; nw${k}[j] = w${k}[j] - a1;`;
  }
  const value = rule === 'nesterov' ? `u.c * (gv + acc * u.m) + w${k}[j]` : `u.c * acc + w${k}[j]`;
  return `let acc = u.m * a${k}[j] + gv; na${k}[j] = acc; nw${k}[j] = ${value};`;
}

/** The program for `n` variables of `total` elements in all (its code depends on n and the rule only). */
const program = memoized(function program(rule: DeviceRule, n: number, total: number): RawProgram {
  const ids = Array.from({ length: n }, (_, k) => k);
  const names = slots(rule);
  const fields = ids.map((k) => `e${k} : i32,`).join(' ');
  const decls = [
    '@group(0) @binding(0) var<storage, read> g : array<f32>;',
    ...names.flatMap((name, si) =>
      ids.map((k) => `@group(0) @binding(${1 + si * n + k}) var<storage, read> ${name}${k} : array<f32>;`),
    ),
    ...names.flatMap((name, si) =>
      ids.map(
        (k) =>
          `@group(0) @binding(${1 + (names.length + si) * n + k}) var<storage, read_write> n${name}${k} : array<f32>;`,
      ),
    ),
    `@group(0) @binding(${1 + 2 * names.length * n}) var<uniform> u : Uniforms;`,
  ].join('\n');
  const branches = ids
    .map(
      (k) =>
        `  if (i < u.e${k}) { let j = ${k === 0 ? 'i' : `i - u.e${k - 1}`}; ${update(rule, k)} return; }`,
    )
    .join('\n');
  return {
    key: `tfjsDdpOptimizer_${rule}_${n}`,
    workgroups: rawWorkgroups(total, WG),
    code: () => `struct Uniforms { c : f32, m : f32, b1 : f32, b2 : f32, rest1 : f32, rest2 : f32, eps : f32, c1 : f32, c2 : f32, threads : i32, g0 : i32, scale : f32, ${fields} };
${decls}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>) {
  let i = ${rawIndex(WG)};
  if (i >= u.threads) { return; }
  let gv = g[u.g0 + i] * u.scale;
${branches}
}`,
  };
});

/**
 * The program for variables of `sizes` elements (all > 0) whose gradient starts at element `g0` of
 * the bound one and is multiplied by `scale` as it is read, and its uniforms.
 */
export function optimizerProgram(
  sizes: number[],
  rule: DeviceRule,
  s: UpdateScalars,
  g0 = 0,
  scale = 1,
): { program: RawProgram; uniforms: ProgramUniform[] } {
  const ends: number[] = [];
  sizes.reduce((end, size) => (ends.push(end + size), end + size), 0);
  const total = ends[sizes.length - 1]!;
  const f = (v: number): ProgramUniform => ({ type: 'float32', data: [v] });
  const [b1, b2] = [s.b1 ?? 0, s.b2 ?? 0];
  const uniforms: ProgramUniform[] = [
    f(s.c),
    f(s.m ?? 0),
    f(b1),
    f(b2),
    f(1 - b1),
    f(1 - b2),
    f(s.eps ?? 0),
    f(s.c1 ?? 1),
    f(s.c2 ?? 1),
    { type: 'int32', data: [total] },
    { type: 'int32', data: [g0] },
    f(scale),
    ...ends.map((e) => ({ type: 'int32' as const, data: [e] })),
  ];
  return { program: program(rule, sizes.length, total), uniforms };
}
