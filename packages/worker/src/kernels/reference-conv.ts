// Naive loop implementations of conv2d and its two gradients (NHWC), the oracle the fast kernels
// are tested against. Deliberately the textbook definition: slow, obviously right.
import { backend_util } from '@tensorflow/tfjs-core';

export interface ConvCase {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: [number, number];
  pad: 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
}

function geometry(c: ConvCase) {
  const info = backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad);
  return { ...info, top: info.padInfo.top, left: info.padInfo.left };
}

/** Output shape [B, OH, OW, Co] of the conv. */
export function convOutShape(c: ConvCase): [number, number, number, number] {
  const g = geometry(c);
  return [g.batchSize, g.outHeight, g.outWidth, g.outChannels];
}

/**
 * Visits every (input element, filter element, output element) triple the conv multiplies:
 * fn(xIndex, wIndex, yIndex).
 */
function forEachTap(c: ConvCase, fn: (xi: number, wi: number, yi: number) => void): void {
  const g = geometry(c);
  const [, H, W, Ci] = c.x;
  const [KH, KW, , Co] = c.filter;
  for (let b = 0; b < g.batchSize; b++)
    for (let oh = 0; oh < g.outHeight; oh++)
      for (let ow = 0; ow < g.outWidth; ow++)
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * g.strideHeight + kh - g.top;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * g.strideWidth + kw - g.left;
            if (iw < 0 || iw >= W) continue;
            for (let ci = 0; ci < Ci; ci++)
              for (let co = 0; co < Co; co++) {
                fn(((b * H + ih) * W + iw) * Ci + ci, ((kh * KW + kw) * Ci + ci) * Co + co, ((b * g.outHeight + oh) * g.outWidth + ow) * Co + co);
              }
          }
        }
}

export function refConv2d(c: ConvCase, x: Float32Array, w: Float32Array): Float64Array {
  const y = new Float64Array(convOutShape(c).reduce((a, b) => a * b, 1));
  forEachTap(c, (xi, wi, yi) => (y[yi]! += x[xi]! * w[wi]!));
  return y;
}

export function refBackpropFilter(c: ConvCase, x: Float32Array, dy: Float32Array): Float64Array {
  const dw = new Float64Array(c.filter.reduce((a, b) => a * b, 1));
  forEachTap(c, (xi, wi, yi) => (dw[wi]! += x[xi]! * dy[yi]!));
  return dw;
}

export function refBackpropInput(c: ConvCase, w: Float32Array, dy: Float32Array): Float64Array {
  const dx = new Float64Array(c.x.reduce((a, b) => a * b, 1));
  forEachTap(c, (xi, wi, yi) => (dx[xi]! += w[wi]! * dy[yi]!));
  return dx;
}

/** Naive max-pool gradient (NHWC): each output's dy goes to the first maximum of its window. */
export function refMaxPoolGrad(
  xShape: [number, number, number, number],
  x: Float32Array,
  dy: Float32Array,
  filterSize: number,
  stride: number,
  pad: 'same' | 'valid',
): Float64Array {
  const info = backend_util.computePool2DInfo(xShape, filterSize, stride, 1, pad);
  const [B, H, W, C] = xShape;
  const dx = new Float64Array(x.length);
  for (let b = 0; b < B; b++)
    for (let oh = 0; oh < info.outHeight; oh++)
      for (let ow = 0; ow < info.outWidth; ow++)
        for (let c = 0; c < C; c++) {
          let best = -Infinity;
          let at = -1;
          for (let kh = 0; kh < filterSize; kh++)
            for (let kw = 0; kw < filterSize; kw++) {
              const h = oh * stride + kh - info.padInfo.top;
              const w = ow * stride + kw - info.padInfo.left;
              if (h < 0 || h >= H || w < 0 || w >= W) continue;
              const i = ((b * H + h) * W + w) * C + c;
              if (x[i]! > best) {
                best = x[i]!;
                at = i;
              }
            }
          dx[at]! += dy[((b * info.outHeight + oh) * info.outWidth + ow) * C + c]!;
        }
  return dx;
}
