// Concat and SplitV on the webgpu backend in one dispatch each (concat-split-programs.ts), for
// float32 pieces that fit in one program's storage buffers; the stock kernels (captured when the
// configs are made) for everything else: other dtypes, empty pieces, a single piece, more pieces
// than the device binds at once. The DenseNet's dense blocks concatenate (forward) and split (their
// gradient) once per conv block. Registered by fast-kernels.ts.
import {
  backend_util,
  getKernel,
  util,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { piecesProgram } from './concat-split-programs';
import { rawRecorder as gpu } from './raw-dispatch';

const product = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

/** Whether one program can take these pieces on this backend. */
function ours(backend: object, pieces: { dtype: string; size: number }[], whole: { dtype: string }): boolean {
  return (
    whole.dtype === 'float32' &&
    pieces.length >= 2 &&
    pieces.length + 1 <= gpu.storageBuffers(backend) &&
    pieces.every((p) => p.dtype === 'float32' && p.size > 0)
  );
}

function makeConcat(stock: KernelFunc): KernelFunc {
  return (args) => {
    const inputs = args.inputs as unknown as TensorInfo[];
    const { axis } = args.attrs as unknown as { axis: number | number[] };
    if (inputs.length === 0) return stock(args);
    const $axis = util.parseAxisParam(axis, inputs[0]!.shape)[0]!;
    const pieces = inputs.map((t) => ({ dtype: t.dtype, size: product(t.shape) }));
    if (!ours(args.backend, pieces, inputs[0]!)) return stock(args);
    backend_util.assertParamsConsistent(
      inputs.map((t) => t.shape),
      $axis,
    );
    const outShape = backend_util.computeOutShape(
      inputs.map((t) => t.shape),
      $axis,
    );
    const outer = product(outShape.slice(0, $axis));
    const { program, uniforms } = piecesProgram(
      'concat',
      outer,
      inputs.map((t) => product(t.shape.slice($axis))),
    );
    const out = gpu.output(args.backend, outShape);
    gpu.record(args.backend, program, [...inputs, out], uniforms);
    return out;
  };
}

function makeSplitV(stock: KernelFunc): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { numOrSizeSplits, axis } = args.attrs as unknown as {
      numOrSizeSplits: number | number[];
      axis: number;
    };
    const $axis = util.parseAxisParam(axis, x.shape)[0]!;
    const sizes = backend_util.prepareSplitSize(x as never, numOrSizeSplits, $axis);
    const inner = product(x.shape.slice($axis + 1));
    const pieces = sizes.map((s) => ({ dtype: x.dtype, size: s * inner }));
    if (!ours(args.backend, pieces, x) || product(x.shape) === 0) return stock(args);
    const outer = product(x.shape.slice(0, $axis));
    const { program, uniforms } = piecesProgram(
      'split',
      outer,
      sizes.map((s) => s * inner),
    );
    const outs = sizes.map((s) =>
      gpu.output(
        args.backend,
        x.shape.map((d, k) => (k === $axis ? s : d)),
      ),
    );
    gpu.record(args.backend, program, [x, ...outs], uniforms);
    return outs;
  };
}

/** Captures the stock kernels as fallbacks: call before registering these configs. */
export function concatSplitWebGpuConfigs(): KernelConfig[] {
  const stock = (name: string) => {
    const f = getKernel(name, 'webgpu')?.kernelFunc;
    if (f === undefined) throw new Error(`webgpu backend without a stock ${name} kernel`);
    return f;
  };
  return [
    { kernelName: 'Concat', backendName: 'webgpu', kernelFunc: makeConcat(stock('Concat')) },
    { kernelName: 'SplitV', backendName: 'webgpu', kernelFunc: makeSplitV(stock('SplitV')) },
  ];
}
