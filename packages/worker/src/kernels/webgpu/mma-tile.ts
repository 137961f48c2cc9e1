// The tile product of the subgroup-matrix programs (conv2d-mma-program.ts, conv2d-mma-filter-program.ts):
// C (MT × NT, f32) += A (MT × KT, f16, row-major in workgroup memory As) · B (KT × NT, f16, Bs), then
// C to workgroup memory Cs for the epilogue. On subgroup matrices: four subgroups, each a quarter of
// C in FI × FJ result matrices. With 'fma' (the specs, where no adapter has matrices): each
// invocation sums its own elements of C as f32 FMAs of the same f16 values.

/** A subgroup-matrix shape: left M×K, right K×N, result M×N (GPUSubgroupMatrixConfig's). */
export interface MmaShape {
  M: number;
  N: number;
  K: number;
}

/** The workgroup's tile of y (rows × channels) and of the sum per step. */
export const MMA_TILE = { rows: 64, cols: 32, depth: 32 } as const;

/** Whether a subgroup-matrix shape tiles MMA_TILE with four subgroups in a 2 × 2 arrangement. */
export function mmaShapeFits(s: MmaShape): boolean {
  const { rows, cols, depth } = MMA_TILE;
  return (rows / 2) % s.M === 0 && (cols / 2) % s.N === 0 && depth % s.K === 0;
}

export function tileProduct(
  inner: MmaShape | 'fma',
  WG: number,
): { decl: string; product: string; toC: string } {
  const { rows: MT, cols: NT, depth: KT } = MMA_TILE;
  let decl: string;
  let product: string;
  let toC: string;
  if (inner === 'fma') {
    // Each invocation sums its own elements of the tile, e = t + WG·q: row e / NT, column e % NT.
    const per = (MT * NT) / WG;
    const qs = Array.from({ length: per }, (_, q) => q);
    decl = `var acc : array<f32, ${per}>;`;
    product = `for (var kk = 0; kk < ${KT}; kk++) {
      ${qs
        .map(
          (q) =>
            `acc[${q}] += f32(As[((i32(t) + ${q * WG}) / ${NT}) * ${KT} + kk]) * f32(Bs[kk * ${NT} + (i32(t) + ${q * WG}) % ${NT}]);`,
        )
        .join('\n      ')}
    }`;
    toC = qs.map((q) => `Cs[i32(t) + ${q * WG}] = acc[${q}];`).join('\n  ');
  } else {
    // Subgroup s < 4 owns the quarter (s / 2, s % 2) of the tile: FI × FJ result matrices. Where the
    // adapter runs smaller subgroups than its largest, the others (s ≥ 4) only load and store.
    const { M, N, K } = inner;
    const FI = MT / 2 / M;
    const FJ = NT / 2 / N;
    const is = Array.from({ length: FI }, (_, i) => i);
    const js = Array.from({ length: FJ }, (_, j) => j);
    const row = (i: number) => `(sg / 2u) * ${MT / 2}u + ${i * M}u`;
    const col = (j: number) => `(sg % 2u) * ${NT / 2}u + ${j * N}u`;
    decl = is
      .flatMap((i) => js.map((j) => `var acc${i}_${j} = subgroup_matrix_result<f32, ${N}, ${M}>();`))
      .join('\n  ');
    product = `if (sg < 4u) {
      for (var kk = 0u; kk < ${KT}u; kk += ${K}u) {
        ${is.map((i) => `let l${i} = subgroupMatrixLoad<subgroup_matrix_left<f16, ${K}, ${M}>, row_major>(&As, (${row(i)}) * ${KT}u + kk, ${KT}u);`).join('\n        ')}
        ${js.map((j) => `let r${j} = subgroupMatrixLoad<subgroup_matrix_right<f16, ${N}, ${K}>, row_major>(&Bs, kk * ${NT}u + ${col(j)}, ${NT}u);`).join('\n        ')}
        ${is.flatMap((i) => js.map((j) => `acc${i}_${j} = subgroupMatrixMultiplyAccumulate(l${i}, r${j}, acc${i}_${j});`)).join('\n        ')}
      }
    }`;
    toC = `if (sg < 4u) {
    ${is.flatMap((i) => js.map((j) => `subgroupMatrixStore<row_major>(&Cs, (${row(i)}) * ${NT}u + ${col(j)}, acc${i}_${j}, ${NT}u);`)).join('\n    ')}
  }`;
  }
  return { decl, product, toC };
}

/** The programs' first lines: f16, and the matrices unless `fma`. */
export function mmaEnables(inner: MmaShape | 'fma'): string {
  return `enable f16;\n${inner === 'fma' ? '' : 'enable chromium_experimental_subgroup_matrix;\n'}`;
}

/**
 * The tile memory (As, Bs, Cs: 15 KB with the pixel arrays) and, per pixel of the tile (`n` of them,
 * arrays `${p}B`, `${p}Ih`, `${p}Iw`): its image (-1 past the end) and its window's corner.
 */
export function tileMemory(p: string, n: number): string {
  const { rows: MT, cols: NT, depth: KT } = MMA_TILE;
  return `var<workgroup> As : array<f16, ${MT * KT}>;
var<workgroup> Bs : array<f16, ${KT * NT}>;
var<workgroup> Cs : array<f32, ${MT * NT}>;
var<workgroup> ${p}B : array<i32, ${n}>;
var<workgroup> ${p}Ih : array<i32, ${n}>;
var<workgroup> ${p}Iw : array<i32, ${n}>;`;
}

/** The entry point's signature: subgroup_id only where the matrices need it. */
export function mmaMain(inner: MmaShape | 'fma', WG: number): string {
  return `@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) t : u32, @builtin(workgroup_id) wid : vec3<u32>,
        @builtin(num_workgroups) nwg : vec3<u32>${inner === 'fma' ? '' : ', @builtin(subgroup_id) sg : u32'}) {`;
}

/**
 * `scale` from the binding `dyMax` (max |dY|): the power of 2 that brings it to [2^13, 2^14], exact
 * to apply and to undo; 1 where it is 0, above 2^127, infinite or NaN (tested on the bits: a
 * compiler may assume floats are never NaN).
 */
export const GRADIENT_SCALE = `let dm = dyMax[0];
  let bits = bitcast<u32>(dm);
  let scale = select(1.0, exp2(14.0 - ceil(log2(dm))), bits > 0u && bits < 0x7f000000u);`;

/**
 * WGSL storing, for the forward conv's output pixel `p` (known to exist), its image and its window's
 * top-left corner in x into the tile memory arrays `${a}B`, `${a}Ih`, `${a}Iw` at index `i`.
 */
export function outputPixelCorner(a: string, i: string): string {
  return `let rest = p / u.OW;
      ${a}B[${i}] = rest / u.OH;
      ${a}Ih[${i}] = (rest % u.OH) * u.sh - u.padTop;
      ${a}Iw[${i}] = p % u.OW * u.sw - u.padLeft;`;
}

/**
 * WGSL setting `v` to x at sum index `kd` (tap kd / Ci, channel kd % Ci; a vec4 of channels where
 * `vec`) for the pixel of image `b` whose window's corner is (`ih0`, `iw0`); it stays zero outside x.
 */
export function xAtTap(ih0: string, iw0: string, vec: boolean): string {
  const at = '((b * u.H + ih) * u.W + iw) * u.Ci + kd % u.Ci';
  return `let tap = kd / u.Ci;
        let ih = ${ih0} + tap / u.KW;
        let iw = ${iw0} + tap % u.KW;
        if (ih >= 0 && ih < u.H && iw >= 0 && iw < u.W) {
          v = x[${vec ? `(${at}) / 4` : at}];
        }`;
}

/** WGSL: the vec4 of Cs at row `r`, columns `c`…`c`+3. */
export function tileC4(r: string, c: string): string {
  const { cols: NT } = MMA_TILE;
  return `vec4<f32>(${[0, 1, 2, 3].map((i) => `Cs[${r} * ${NT} + ${c} + ${i}]`).join(', ')})`;
}
