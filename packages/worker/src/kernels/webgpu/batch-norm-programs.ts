// WGSL for the training-mode BatchNorm (+ ReLU) kernels on webgpu (batch-norm-webgpu.ts): the same
// maths as the wasm/cpu kernels of ../batch-norm-relu.ts, three dispatches each way instead of the
// ~30 of the composite. x is [rows, C] (NHWC flattened), channels innermost.
//
// - sums:     per (channel, chunk of rows), Σd and Σd² with d = x − x[0, c] (forward) or Σdy' and
//             Σdy'·(x − μ) with dy' = dy where y > 0 under a ReLU (backward), into partials
//             [chunks, 2, C]. Consecutive invocations are consecutive channels: coalesced loads.
// - finalize: per channel, the partials summed; forward: mean, variance, 1/√(var + ε) and the
//             per-channel scale/offset of y; backward: dγ, dβ and the coefficients of dx.
// - apply:    per element (four channels per invocation when C % 4 = 0), y = max(0, (x − μ)·s + β)
//             or dx = k·dy' + a·(x − μ) + t.
// Chunks are ⌈√rows⌉ rows, so both sum loops are about √rows long: at batch 256 and 48×48 that is
// 384 chunks × C channels of parallel work. Sums are float32 (WGSL has no float64), shifted by the
// first row in the forward direction, as the CPU kernels do in float64.
import { blendExpression } from './moving-statistics-program';
import { memoized, rawIndex, rawWorkgroups, type RawProgram } from './raw-dispatch';

const WG = 64;

/** Rows per chunk and chunk count of the sums for `rows` rows. */
export function chunking(rows: number): { chunkRows: number; chunks: number } {
  const chunkRows = Math.max(1, Math.ceil(Math.sqrt(rows)));
  return { chunkRows, chunks: Math.max(1, Math.ceil(rows / chunkRows)) };
}

const UNIFORMS =
  'struct Uniforms { rows : i32, channels : i32, chunkRows : i32, chunks : i32, threads : i32, epsilon : f32, m : f32, rest : f32, scale : f32, };';

function program(key: string, threads: number, bindings: string[], body: string): RawProgram {
  return channelsProgram(key, threads, UNIFORMS, bindings, body);
}

/**
 * A program of `threads` invocations, each with its flat index i and the uniform `channels` as C:
 * `uniforms` declares the struct Uniforms (with `threads` and `channels`), `bindings` the storage
 * buffers 0..n−1 (read, write below), the uniforms binding n. Also the parts programs'
 * (batch-norm-parts-programs.ts).
 */
export function channelsProgram(
  key: string,
  threads: number,
  uniforms: string,
  bindings: string[],
  body: string,
): RawProgram {
  const decls = bindings.map((b, i) => `@group(0) @binding(${i}) ${b};`).join('\n');
  return {
    key,
    workgroups: rawWorkgroups(threads, WG),
    code: () => `${uniforms}
${decls}
@group(0) @binding(${bindings.length}) var<uniform> u : Uniforms;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>) {
  let i = ${rawIndex(WG)};
  if (i >= u.threads) { return; }
  let C = u.channels;
${body}
}`,
  };
}

export const read = (name: string, type = 'f32') => `var<storage, read> ${name} : array<${type}>`;
export const write = (name: string, type = 'f32') => `var<storage, read_write> ${name} : array<${type}>`;

/** The uniforms of every program here, in the struct's order. */
export function bnUniforms(
  rows: number,
  channels: number,
  threads: number,
  epsilon = 0,
  moving = { momentum: 0, scale: 1 },
) {
  const { chunkRows, chunks } = chunking(rows);
  return [
    { type: 'int32' as const, data: [rows] },
    { type: 'int32' as const, data: [channels] },
    { type: 'int32' as const, data: [chunkRows] },
    { type: 'int32' as const, data: [chunks] },
    { type: 'int32' as const, data: [threads] },
    { type: 'float32' as const, data: [epsilon] },
    { type: 'float32' as const, data: [moving.momentum] },
    { type: 'float32' as const, data: [1 - moving.momentum] },
    { type: 'float32' as const, data: [moving.scale] },
  ];
}

/**
 * The body of a sums program: per (channel c, chunk k), Σa and Σb over the chunk's rows, `a` and
 * `b` WGSL expressions of the element index j (after `setup`, and `each` per element).
 */
function sumsBody(setup: string, each: string, a: string, b: string): string {
  return `
  let c = i % C;
  let k = i / C;
  ${setup}
  var s = 0.0;
  var q = 0.0;
  let r1 = min(k * u.chunkRows + u.chunkRows, u.rows);
  for (var r = k * u.chunkRows; r < r1; r++) {
    let j = r * C + c;
    ${each}
    s += ${a};
    q += ${b};
  }
  partial[k * 2 * C + c] = s;
  partial[k * 2 * C + C + c] = q;`;
}

/** Forward sums; bindings x, partial. One invocation per (channel, chunk). */
export const forwardSums = memoized(function forwardSums(rows: number, C: number): RawProgram {
  const body = sumsBody('let shift = x[c];', 'let d = x[j] - shift;', 'd', 'd * d');
  return program('tfjsDdpBnSums', chunking(rows).chunks * C, [read('x'), write('partial')], body);
});

/** Backward sums; bindings dy, x, y (under a ReLU only), mean, partial. */
export const backwardSums = memoized(function backwardSums(
  rows: number,
  C: number,
  relu: boolean,
): RawProgram {
  const g = relu ? 'select(0.0, dy[j], y[j] > 0.0)' : 'dy[j]';
  const body = sumsBody('let mu = mean[c];', `let g = ${g};`, 'g', 'g * (x[j] - mu)');
  const bindings = [read('dy'), read('x'), ...(relu ? [read('y')] : []), read('mean'), write('partial')];
  return program(`tfjsDdpBnGradSums_${relu}`, chunking(rows).chunks * C, bindings, body);
});

const SUM_PARTIALS = `
  var s = 0.0;
  var q = 0.0;
  for (var k = 0; k < u.chunks; k++) {
    s += partial[k * 2 * C + i];
    q += partial[k * 2 * C + C + i];
  }
  let n = f32(u.rows);`;

/**
 * Forward finalize; bindings partial, x, gamma, beta → mean, variance, invStd, coef [3, C] (γ/σ, μ,
 * β); with `moving`, then old moving mean and variance → new ones. With `shiftInPartial` (the parts
 * kernels, batch-norm-parts-programs.ts), no x: each channel's shift is read from the partials' last
 * C entries, where the sums put it.
 */
export const forwardFinalize = memoized(function forwardFinalize(
  C: number,
  moving: 'pytorch' | 'tfjs' | null = null,
  shiftInPartial: boolean = false,
): RawProgram {
  const bindings = [
    read('partial'),
    ...(shiftInPartial ? [] : [read('x')]),
    read('gamma'),
    read('beta'),
    write('mean'),
    write('variance'),
    write('invStd'),
    write('coef'),
    ...(moving === null
      ? []
      : [read('oldMean'), read('oldVariance'), write('newMean'), write('newVariance')]),
  ];
  // With `moving`: the layer's moving mean and variance too (moving-statistics-program.ts's maths,
  // on the same float32 values), instead of a dispatch of their own.
  const update =
    moving === null
      ? ''
      : `
  newMean[i] = ${blendExpression(moving, 'oldMean', 'mu')};
  newVariance[i] = ${blendExpression(moving, 'oldVariance', moving === 'pytorch' ? 'v * u.scale' : 'v')};`;
  return program(
    `tfjsDdpBnStats_${moving}${shiftInPartial ? '_partial' : ''}`,
    C,
    bindings,
    `${SUM_PARTIALS}
  let m = s / n;
  let v = max(q / n - m * m, 0.0);
  let mu = ${shiftInPartial ? 'partial[u.chunks * 2 * C + i]' : 'x[i]'} + m;
  let inv = 1.0 / sqrt(v + u.epsilon);
  mean[i] = mu;
  variance[i] = v;
  invStd[i] = inv;
  coef[i] = gamma[i] * inv;
  coef[C + i] = mu;
  coef[2 * C + i] = beta[i];${update}`,
  );
});

/** Backward finalize; bindings partial, mean, invStd, gamma → dGamma, dBeta, coef [4, C] (k, a, t, μ). */
export const backwardFinalize = memoized(function backwardFinalize(C: number): RawProgram {
  const bindings = [
    read('partial'),
    read('mean'),
    read('invStd'),
    read('gamma'),
    write('dGamma'),
    write('dBeta'),
    write('coef'),
  ];
  return program(
    'tfjsDdpBnGradStats',
    C,
    bindings,
    `${SUM_PARTIALS}
  let inv = invStd[i];
  let k = gamma[i] * inv;
  dBeta[i] = s;
  dGamma[i] = q * inv;
  // dx = γ/σ · (dy' − dβ/n − x̂·dγ/n) = k·dy' + a·(x − μ) + t, with x̂ = (x − μ)/σ.
  coef[i] = k;
  coef[C + i] = -(k * inv * q * inv) / n;
  coef[2 * C + i] = -(k * s) / n;
  coef[3 * C + i] = mean[i];`,
  );
});

/** Lanes per invocation of the element-wise programs: 4 where C % 4 = 0. */
function lanes(C: number): 1 | 4 {
  return C % 4 === 0 ? 4 : 1;
}

/** Threads of an element-wise program over `size` elements of C channels. */
export function applyThreads(size: number, C: number): number {
  return size / lanes(C);
}

/** y = (x − μ)·γ/σ + β (max(0, ·) under a ReLU); bindings x, coef → y. */
export const forwardApply = memoized(function forwardApply(
  size: number,
  C: number,
  relu: boolean,
): RawProgram {
  const l = lanes(C);
  const t = l === 4 ? 'vec4<f32>' : 'f32';
  // (x − μ)·s + β rather than x·s + (β − μ·s): exactly β where x = μ (a constant channel's ties at 0).
  const e = '(x[i] - coef[Cl + c]) * coef[c] + coef[2 * Cl + c]';
  const v = relu ? `max(${e}, ${t}(0.0))` : e;
  return program(
    `tfjsDdpBnApply_${l}_${relu}`,
    size / l,
    [read('x', t), read('coef', t), write('y', t)],
    `
  let Cl = C / ${l};
  let c = i % Cl;
  y[i] = ${v};`,
  );
});

/** dx = k·dy' + a·(x − μ) + t (+ acc); bindings dy, x, y (under a ReLU only), coef, acc (when given) → dx. */
export const backwardApply = memoized(function backwardApply(
  size: number,
  C: number,
  relu: boolean,
  acc: boolean = false,
): RawProgram {
  const l = lanes(C);
  const t = l === 4 ? 'vec4<f32>' : 'f32';
  const g = relu ? `select(${t}(0.0), dy[i], y[i] > ${t}(0.0))` : 'dy[i]';
  const bindings = [
    read('dy', t),
    read('x', t),
    ...(relu ? [read('y', t)] : []),
    read('coef', t),
    ...(acc ? [read('acc', t)] : []),
    write('dx', t),
  ];
  // With acc: the gradient other consumers of x gave it, added here instead of by a separate Add.
  const plus = acc ? ' + acc[i]' : '';
  return program(
    `tfjsDdpBnGradApply_${l}_${relu}_${acc}`,
    size / l,
    bindings,
    `
  let Cl = C / ${l};
  let c = i % Cl;
  dx[i] = coef[c] * ${g} + coef[Cl + c] * (x[i] - coef[3 * Cl + c]) + coef[2 * Cl + c]${plus};`,
  );
});
