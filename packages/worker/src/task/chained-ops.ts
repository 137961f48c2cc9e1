// Tensor methods (x.reshape(…), x.flatten(), x.square()…) on the tfjs instance tfjs-ddp uses.
// tfjs-core's Node bundle does not register them — only its ES-module entry does — yet users'
// models and tfjs-layers itself call them (the orthogonal initializer of every GRU and LSTM calls
// .flatten(): without them a recurrent model fails to build with "rMat.flatten is not a function").
// The table is tfjs-core 4.22's dist/public/chained_ops: each method calls the op of the same name
// with the tensor first, except those written out below.
import * as tf from '@tensorflow/tfjs-core';

/** Methods that are `op(this, ...args)` for the op of the same name. */
const SAME_NAME = [
  'abs',
  'acos',
  'acosh',
  'add',
  'all',
  'any',
  'argMax',
  'argMin',
  'asin',
  'asinh',
  'atan',
  'atan2',
  'atanh',
  'avgPool',
  'batchNorm',
  'batchToSpaceND',
  'broadcastTo',
  'cast',
  'ceil',
  'clipByValue',
  'conv1d',
  'conv2d',
  'conv2dTranspose',
  'cos',
  'cosh',
  'cumprod',
  'cumsum',
  'depthToSpace',
  'depthwiseConv2d',
  'dilation2d',
  'div',
  'divNoNan',
  'dot',
  'elu',
  'equal',
  'erf',
  'euclideanNorm',
  'exp',
  'expandDims',
  'expm1',
  'fft',
  'floor',
  'floorDiv',
  'gather',
  'greater',
  'greaterEqual',
  'ifft',
  'irfft',
  'isFinite',
  'isInf',
  'isNaN',
  'leakyRelu',
  'less',
  'lessEqual',
  'localResponseNormalization',
  'log',
  'log1p',
  'logSigmoid',
  'logSoftmax',
  'logSumExp',
  'logicalAnd',
  'logicalNot',
  'logicalOr',
  'logicalXor',
  'matMul',
  'max',
  'maxPool',
  'maximum',
  'mean',
  'min',
  'minimum',
  'mirrorPad',
  'mod',
  'mul',
  'neg',
  'norm',
  'notEqual',
  'onesLike',
  'pad',
  'pool',
  'pow',
  'prelu',
  'prod',
  'reciprocal',
  'relu',
  'relu6',
  'reshape',
  'reverse',
  'rfft',
  'round',
  'rsqrt',
  'selu',
  'separableConv2d',
  'sigmoid',
  'sign',
  'sin',
  'sinh',
  'slice',
  'softmax',
  'softplus',
  'spaceToBatchND',
  'split',
  'sqrt',
  'square',
  'squaredDifference',
  'squeeze',
  'step',
  'stridedSlice',
  'sub',
  'sum',
  'tan',
  'tanh',
  'tile',
  'topk',
  'transpose',
  'unique',
  'unsortedSegmentSum',
  'unstack',
  'zerosLike',
] as const;

type Op = (...args: unknown[]) => tf.Tensor | tf.Tensor[];
const ops = tf as unknown as Record<string, Op>;
const image = tf.image as unknown as Record<string, Op>;

/** The methods whose body is not `op(this, ...args)`. */
const OTHERS: Record<string, (t: tf.Tensor, ...a: never[]) => unknown> = {
  as1D: (t) => tf.reshape(t, [t.size]),
  as2D: (t, r: number, c: number) => tf.reshape(t, [r, c]),
  as3D: (t, r: number, c: number, d: number) => tf.reshape(t, [r, c, d]),
  as4D: (t, r: number, c: number, d: number, d2: number) => tf.reshape(t, [r, c, d, d2]),
  as5D: (t, r: number, c: number, d: number, d2: number, d3: number) => tf.reshape(t, [r, c, d, d2, d3]),
  asScalar: (t) => {
    if (t.size !== 1) throw new Error('The array must have only 1 element.');
    return tf.reshape(t, []);
  },
  asType: (t, dtype: tf.DataType) => tf.cast(t, dtype),
  concat: (t, x: tf.Tensor | tf.Tensor[], axis?: number) =>
    tf.concat([t, ...(x instanceof tf.Tensor ? [x] : x)], axis),
  flatten: (t) => tf.reshape(t, [t.size]),
  oneHot: (t, depth: number, on = 1, off = 0) => tf.oneHot(t as tf.Tensor1D, depth, on, off),
  reshapeAs: (t, x: tf.Tensor) => tf.reshape(t, x.shape),
  resizeBilinear: (t, ...a: never[]) => image['resizeBilinear']!(t, ...a),
  resizeNearestNeighbor: (t, ...a: never[]) => image['resizeNearestNeighbor']!(t, ...a),
  stack: (t, x: tf.Tensor | tf.Tensor[], axis?: number) =>
    tf.stack(x instanceof tf.Tensor ? [t, x] : [t, ...x], axis),
  toBool: (t) => tf.cast(t, 'bool'),
  toFloat: (t) => tf.cast(t, 'float32'),
  toInt: (t) => tf.cast(t, 'int32'),
  where: (t, condition: tf.Tensor, x: tf.Tensor) => tf.where(condition, t, x),
};

let registered = false;

/** Adds the methods the Tensor class lacks (idempotent); returns how many it added. */
export function registerChainedOps(): number {
  if (registered) return 0;
  registered = true;
  const proto = tf.Tensor.prototype as unknown as Record<string, unknown>;
  let added = 0;
  const define = (name: string, f: (t: tf.Tensor, ...a: never[]) => unknown) => {
    if (typeof proto[name] === 'function') return;
    proto[name] = function (this: tf.Tensor, ...a: never[]) {
      if (this.isDisposed) throw new Error('Tensor is disposed.');
      return f(this, ...a);
    };
    added++;
  };
  for (const name of SAME_NAME) define(name, (t, ...a) => ops[name]!(t, ...a));
  for (const [name, f] of Object.entries(OTHERS)) define(name, f);
  return added;
}
