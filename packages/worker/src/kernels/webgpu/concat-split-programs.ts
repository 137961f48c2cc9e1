// WGSL for Concat and SplitV on the webgpu backend, one dispatch for all the pieces, where tfjs'
// SplitV runs one Slice dispatch per output (and its Concat, on the DenseNet step, 23 dispatches for
// 17 calls). Any axis is a
// 2D problem, [outer, width] with the widths of the pieces along the second dimension (the product
// of the dimensions from the axis on). One invocation per element of the whole (four when every
// piece's width is a multiple of 4); Concat reads the piece its column falls in, SplitV writes it.
// Bindings: Concat the pieces then the whole; SplitV the whole then the pieces. Run by
// concat-split-webgpu.ts through raw-dispatch.ts.
import type { ProgramUniform } from './webgpu-backend-like';
import { rawIndex, rawWorkgroups, type RawProgram } from './raw-dispatch';

const WG = 64;

/** Lanes per invocation: 4 where every width is a multiple of 4. */
export function pieceLanes(widths: number[]): 1 | 4 {
  return widths.every((w) => w % 4 === 0) ? 4 : 1;
}

/**
 * The program joining (`concat`) or splitting pieces of `widths` elements per row, over `outer`
 * rows, and its uniforms.
 */
export function piecesProgram(
  direction: 'concat' | 'split',
  outer: number,
  widths: number[],
): { program: RawProgram; uniforms: ProgramUniform[] } {
  const l = pieceLanes(widths);
  const t = l === 4 ? 'vec4<f32>' : 'f32';
  const n = widths.length;
  const lw = widths.map((w) => w / l);
  const ends: number[] = [];
  lw.reduce((end, w) => (ends.push(end + w), end + w), 0);
  const whole = ends[n - 1]!;
  const ids = widths.map((_, j) => j);
  const piece = (j: number) => `p${j}`;
  const bindings =
    direction === 'concat'
      ? [
          ...ids.map((j) => `var<storage, read> ${piece(j)} : array<${t}>`),
          `var<storage, read_write> whole : array<${t}>`,
        ]
      : [
          `var<storage, read> whole : array<${t}>`,
          ...ids.map((j) => `var<storage, read_write> ${piece(j)} : array<${t}>`),
        ];
  const branches = ids
    .map((j) => {
      const at = `row * u.w${j} + col${j === 0 ? '' : ` - u.e${j - 1}`}`;
      const move =
        direction === 'concat' ? `whole[i] = ${piece(j)}[${at}];` : `${piece(j)}[${at}] = whole[i];`;
      return `  if (col < u.e${j}) { ${move} return; }`;
    })
    .join('\n');
  const fields = ids.map((j) => `w${j} : i32, e${j} : i32,`).join(' ');
  const program: RawProgram = {
    key: `tfjsDdpPieces_${direction}_${n}_${l}`,
    workgroups: rawWorkgroups(outer * whole, WG),
    code: () => `struct Uniforms { threads : i32, ${fields} };
${bindings.map((b, i) => `@group(0) @binding(${i}) ${b};`).join('\n')}
@group(0) @binding(${n + 1}) var<uniform> u : Uniforms;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>) {
  let i = ${rawIndex(WG)};
  if (i >= u.threads) { return; }
  let row = i / u.e${n - 1};
  let col = i % u.e${n - 1};
${branches}
}`,
  };
  const uniforms: ProgramUniform[] = [{ type: 'int32', data: [outer * whole] }];
  ids.forEach((j) => uniforms.push({ type: 'int32', data: [lw[j]!] }, { type: 'int32', data: [ends[j]!] }));
  return { program, uniforms };
}
