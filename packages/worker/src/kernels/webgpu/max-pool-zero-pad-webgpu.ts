// Max pooling over a zero-padded input and its gradient (kernels/max-pool-zero-pad.ts' two ops) on
// the webgpu backend, one dispatch each, so that model/fuse-pad-max-pool.ts routes a ZeroPadding2D
// → MaxPooling2D pair through them here too (the composite was PadV2, MaxPool, MaxPoolGrad and a
// Slice, and the padded tensor). The same arithmetic as the JS loops: the forward keeps each
// window's first maximum in row-major order, a pad position's 0 taking part, and its position
// kh·KW + kw (int32); the backward sums, per input, dy over the windows it won, in output row-major
// order. The forward starts from the window's first value (WGSL has no −∞ constant), which differs
// from the loops only for a NaN there. Registered by fast-kernels.ts; run through raw-dispatch.ts.
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import {
  MAX_POOL_ZERO_PAD,
  MAX_POOL_ZERO_PAD_GRAD,
  zeroPadPoolGeometry,
  type MaxPoolZeroPadAttrs,
} from '../max-pool-zero-pad';
import type { ProgramUniform } from './webgpu-backend-like';
import { rawIndex, rawWorkgroups, rawRecorder as gpu, type RawProgram } from './raw-dispatch';

const WG = 64;
const GEOMETRY = ['B', 'H', 'W', 'C', 'OH', 'OW', 'KH', 'KW', 'sh', 'sw', 'top', 'left'];

/** The program over `threads` invocations, its uniforms the thread count and the 12 geometry numbers. */
function program(
  name: string,
  threads: number,
  g: number[],
  bindings: string[],
  body: string,
): { program: RawProgram; uniforms: ProgramUniform[] } {
  return {
    program: {
      key: `tfjsDdp${name}`,
      workgroups: rawWorkgroups(threads, WG),
      code: () => `struct Uniforms { threads : i32, ${GEOMETRY.map((k) => `${k} : i32,`).join(' ')} };
${bindings.map((b, i) => `@group(0) @binding(${i}) ${b};`).join('\n')}
@group(0) @binding(${bindings.length}) var<uniform> u : Uniforms;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>) {
  let i = ${rawIndex(WG)};
  if (i >= u.threads) { return; }
${body}
}`,
    },
    uniforms: [{ type: 'int32', data: [threads] }, ...g.map((v) => ({ type: 'int32' as const, data: [v] }))],
  };
}

// One invocation per output element: its window's maximum and that maximum's first position.
const FORWARD = `  let c = i % u.C;
  let ow = (i / u.C) % u.OW;
  let oh = (i / (u.C * u.OW)) % u.OH;
  let b = i / (u.C * u.OW * u.OH);
  // Starts from the first position's value (WGSL has no -inf constant): the same maximum and first
  // position as starting from -inf, but for a NaN there.
  let h0 = oh * u.sh - u.top;
  let w0 = ow * u.sw - u.left;
  var best = 0.0;
  if (h0 >= 0 && h0 < u.H && w0 >= 0 && w0 < u.W) { best = x[((b * u.H + h0) * u.W + w0) * u.C + c]; }
  var at = 0;
  for (var kh = 0; kh < u.KH; kh++) {
    let h = oh * u.sh - u.top + kh;
    for (var kw = 0; kw < u.KW; kw++) {
      let w = ow * u.sw - u.left + kw;
      var v = 0.0;
      if (h >= 0 && h < u.H && w >= 0 && w < u.W) { v = x[((b * u.H + h) * u.W + w) * u.C + c]; }
      if (v > best) { best = v; at = kh * u.KW + kw; }
    }
  }
  y[i] = best;
  arg[i] = at;`;

// One invocation per input element: the sum of dy over the windows whose maximum it was.
const BACKWARD = `  let c = i % u.C;
  let w = (i / u.C) % u.W;
  let h = (i / (u.C * u.W)) % u.H;
  let b = i / (u.C * u.W * u.H);
  let ph = h + u.top;
  let pw = w + u.left;
  let oh0 = select(0, (ph - u.KH + u.sh) / u.sh, ph - u.KH + 1 > 0);
  let oh1 = min(u.OH - 1, ph / u.sh);
  let ow0 = select(0, (pw - u.KW + u.sw) / u.sw, pw - u.KW + 1 > 0);
  let ow1 = min(u.OW - 1, pw / u.sw);
  var acc = 0.0;
  for (var oh = oh0; oh <= oh1; oh++) {
    for (var ow = ow0; ow <= ow1; ow++) {
      let o = ((b * u.OH + oh) * u.OW + ow) * u.C + c;
      if (arg[o] == (ph - oh * u.sh) * u.KW + (pw - ow * u.sw)) { acc += dy[o]; }
    }
  }
  dx[i] = acc;`;

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

const forward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs as { x: TensorInfo };
  const g = zeroPadPoolGeometry(x.shape, attrs as unknown as MaxPoolZeroPadAttrs);
  const outShape = [g[0]!, g[4]!, g[5]!, g[3]!];
  const y = gpu.output(backend, outShape);
  const arg = gpu.output(backend, outShape, 'int32');
  if (size(outShape) === 0) return [y, arg];
  const bindings = [
    'var<storage, read> x : array<f32>',
    'var<storage, read_write> y : array<f32>',
    'var<storage, read_write> arg : array<i32>',
  ];
  const p = program('MaxPoolZeroPad', size(outShape), g, bindings, FORWARD);
  gpu.record(backend, p.program, [x, y, arg], p.uniforms);
  return [y, arg];
};

const backward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, arg } = inputs as { dy: TensorInfo; arg: TensorInfo };
  const { inputShape } = attrs as unknown as { inputShape: number[] };
  const g = zeroPadPoolGeometry(inputShape, attrs as unknown as MaxPoolZeroPadAttrs);
  const dx = gpu.output(backend, inputShape.slice());
  if (size(inputShape) === 0) return dx;
  const bindings = [
    'var<storage, read> dy : array<f32>',
    'var<storage, read> arg : array<i32>',
    'var<storage, read_write> dx : array<f32>',
  ];
  const p = program('MaxPoolZeroPadGrad', size(inputShape), g, bindings, BACKWARD);
  gpu.record(backend, p.program, [dy, arg, dx], p.uniforms);
  return dx;
};

export function maxPoolZeroPadWebGpuConfigs(): KernelConfig[] {
  return [
    { kernelName: MAX_POOL_ZERO_PAD, backendName: 'webgpu', kernelFunc: forward },
    { kernelName: MAX_POOL_ZERO_PAD_GRAD, backendName: 'webgpu', kernelFunc: backward },
  ];
}
