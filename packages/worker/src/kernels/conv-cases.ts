// The shape table the conv-gradient kernels are checked on (fast-kernels.spec.ts on wasm and cpu,
// webgpu/webgpu-kernels.spec.ts on webgpu), with the seeded data and the error measure they share.
import { mulberry32 } from '@tfjs-ddp/core';
import type { ConvCase } from './reference-conv';

/** Seeded uniform [0, 1) numbers, so every failing case can be replayed. */
export function rng(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() / 4294967296;
}

export function randomArray(n: number, r: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
}

/** A forward case's seeded x, filter and bias (one per output channel), from `seed`. */
export function forwardCaseArrays(c: ConvCase, seed: number): { xs: Float32Array; ws: Float32Array; bs: Float32Array } {
  const r = rng(seed);
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  return { xs: randomArray(size(c.x), r), ws: randomArray(size(c.filter), r), bs: randomArray(c.filter[3], r) };
}

/** max |a − b| / max |b|: the relative error of a whole tensor against the reference. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 1e-12;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}

const FIXED: ConvCase[] = [
  { x: [1, 5, 5, 3], filter: [3, 3, 3, 4], strides: [1, 1], pad: 'same' },
  { x: [2, 7, 6, 2], filter: [3, 3, 2, 3], strides: [2, 2], pad: 'same' },
  { x: [2, 7, 7, 3], filter: [3, 3, 3, 2], strides: [2, 2], pad: 'valid' },
  { x: [3, 6, 6, 4], filter: [1, 1, 4, 5], strides: [1, 1], pad: 'valid' },
  { x: [2, 7, 5, 4], filter: [1, 1, 4, 3], strides: [2, 2], pad: 'same' },
  { x: [2, 9, 9, 1], filter: [7, 7, 1, 4], strides: [2, 2], pad: [[0, 0], [3, 3], [3, 3], [0, 0]] },
  { x: [1, 8, 9, 2], filter: [2, 3, 2, 3], strides: [3, 2], pad: 'same' },
  { x: [1, 1, 1, 3], filter: [1, 1, 3, 2], strides: [1, 1], pad: 'valid' },
  { x: [2, 4, 4, 2], filter: [4, 4, 2, 3], strides: [1, 1], pad: 'valid' },
];

function randomCase(r: () => number): ConvCase {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const K = pick([1, 2, 3, 5]);
  const H = K + Math.floor(r() * 8);
  const W = K + Math.floor(r() * 8);
  const stride = pick([1, 1, 2, 3]);
  const pad = pick(['same', 'valid'] as const);
  return {
    x: [pick([1, 2, 3]), H, W, 1 + Math.floor(r() * 5)],
    filter: [K, K, 0, 1 + Math.floor(r() * 5)],
    strides: [stride, stride],
    pad,
  };
}

const r = rng(20261125);
/** 9 fixed and 30 random cases: strides 1–3, same/valid/explicit padding, 1×1 to 7×7 filters. */
export const CASES: ConvCase[] = [...FIXED, ...Array.from({ length: 30 }, () => randomCase(r))].map((c) => ({
  ...c,
  filter: [c.filter[0], c.filter[1], c.x[3], c.filter[3]],
}));

/**
 * The webgpu kernels' own cases, after CASES: the DenseNet's convs at input size 32 (batch cut to 2
 * to keep the JS reference quick): the stem (7×7/2, Ci = 1), a 3×3 of block 0 and block 3, a 1×1
 * transition; then the vec4 paths.
 */
export const WEBGPU_CASES: ConvCase[] = [
  { x: [2, 38, 38, 1], filter: [7, 7, 1, 64], strides: [2, 2], pad: 'valid' },
  { x: [2, 8, 8, 160], filter: [3, 3, 160, 32], strides: [1, 1], pad: 'same' },
  { x: [2, 8, 8, 192], filter: [1, 1, 192, 96], strides: [1, 1], pad: 'valid' },
  { x: [2, 1, 1, 216], filter: [3, 3, 216, 32], strides: [1, 1], pad: 'same' },
  // vec4 channels with strides, valid/explicit padding and widths that are not a multiple of 4.
  { x: [2, 7, 7, 4], filter: [3, 3, 4, 8], strides: [2, 2], pad: 'same' },
  { x: [1, 9, 6, 8], filter: [5, 5, 8, 4], strides: [3, 2], pad: 'valid' },
  { x: [3, 5, 9, 12], filter: [2, 3, 12, 4], strides: [1, 1], pad: [[0, 0], [1, 0], [2, 1], [0, 0]] },
  // Enough output rows for the filter gradient to split them (conv2d-backprop-filter-program.ts).
  { x: [4, 32, 32, 8], filter: [3, 3, 8, 8], strides: [1, 1], pad: 'same' },
  { x: [3, 35, 50, 4], filter: [3, 3, 4, 8], strides: [2, 2], pad: [[0, 0], [2, 1], [0, 2], [0, 0]] },
  { x: [8, 40, 40, 3], filter: [3, 3, 3, 5], strides: [1, 1], pad: 'same' },
];

/**
 * The seed DenseNet's conv shapes at 96×96 (densenet.ts: stem 7×7/2 on the 102×102 padded image,
 * 3×3 'same' convs of each dense block at their smallest and largest input, each transition's 1×1),
 * with `batch` images instead of the training batch.
 */
export function denseNetCases(batch: number): ConvCase[] {
  const three = (s: number, ci: number): ConvCase => ({ x: [batch, s, s, ci], filter: [3, 3, ci, 32], strides: [1, 1], pad: 'same' });
  const one = (s: number, ci: number): ConvCase => ({ x: [batch, s, s, ci], filter: [1, 1, ci, ci / 2], strides: [1, 1], pad: 'valid' });
  return [
    { x: [batch, 102, 102, 1], filter: [7, 7, 1, 64], strides: [2, 2], pad: 'valid' },
    three(24, 64),
    three(24, 160),
    one(24, 192),
    three(12, 96),
    three(12, 192),
    one(12, 224),
    three(6, 112),
    three(6, 208),
    one(6, 240),
    three(3, 120),
    three(3, 216),
  ];
}
