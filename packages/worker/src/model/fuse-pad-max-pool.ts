// A ZeroPadding2D whose output goes only to a MaxPooling2D (valid padding, NHWC) trains as one
// max pool over the zero-padded input (kernels/max-pool-zero-pad.ts), for any tf.LayersModel, on
// the backends that have its kernels (wasm, cpu): the padding layer passes its input through and
// the pooling layer pads as it pools, so the padded tensor is never made, nor kept for the backward
// pass, nor copied back by a Slice. The values and gradients are the composite's bit for bit. As
// with fuse-batch-norm-relu.ts, only the two layer instances' `call` in training mode changes: the
// layers, their class names and configs stay, so the model saves and loads as before, and
// inference runs the stock code.
import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap } from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  MAX_POOL_ZERO_PAD,
  MAX_POOL_ZERO_PAD_GRAD,
  type MaxPoolZeroPadAttrs,
} from '../kernels/max-pool-zero-pad';
import { soleConsumer, type Call, type Graph } from './layer-graph';

const FUSED = Symbol('tfjs-ddp fused zero padding + max pool');

/** max pool (`filterSize`, `strides`, valid) of x zero-padded by `pads`, one kernel each way. */
export function maxPoolZeroPad(x: tf.Tensor4D, attrs: MaxPoolZeroPadAttrs): tf.Tensor4D {
  const op = tf.customGrad((...args: (tf.Tensor | ((t: tf.Tensor[]) => void))[]) => {
    const xi = args[0] as tf.Tensor4D;
    const save = args[1] as (t: tf.Tensor[]) => void;
    const [y, arg] = tf
      .engine()
      .runKernel(MAX_POOL_ZERO_PAD, { x: xi }, attrs as unknown as NamedAttrMap) as tf.Tensor[];
    save([arg!]);
    return {
      value: y as tf.Tensor4D,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) =>
        tf.engine().runKernel(MAX_POOL_ZERO_PAD_GRAD, { dy: dy as tf.Tensor, arg: saved[0]! }, {
          ...attrs,
          inputShape: xi.shape,
        } as unknown as NamedAttrMap) as tf.Tensor,
    };
  });
  return op(x) as tf.Tensor4D;
}

interface PadState {
  padding: [[number, number], [number, number]];
  dataFormat: string;
}
interface PoolState {
  poolSize: [number, number];
  strides: [number, number];
  padding: string;
  dataFormat: string;
}

/** The MaxPooling2D that alone consumes `pad`'s output, if any (neither layer shared). */
function solePoolAfter(pad: tfl.layers.Layer): tfl.layers.Layer | null {
  if ((pad as unknown as PadState).dataFormat !== 'channelsLast') return null;
  const next = soleConsumer(pad);
  if (next === null || next.getClassName() !== 'MaxPooling2D') return null;
  const p = next as unknown as PoolState;
  return p.padding === 'valid' && p.dataFormat === 'channelsLast' ? next : null;
}

/**
 * Routes each ZeroPadding2D → MaxPooling2D pair of the model (nested models included) through
 * maxPoolZeroPad in training mode, where the backend has its kernels. Idempotent; returns how
 * many pairs.
 */
export function fusePadMaxPool(model: tfl.LayersModel | tfl.layers.Layer): number {
  let n = 0;
  for (const layer of (model as unknown as Graph).layers ?? []) {
    if ((layer as unknown as Graph).layers !== undefined) {
      n += fusePadMaxPool(layer);
      continue;
    }
    if (layer.getClassName() !== 'ZeroPadding2D') continue;
    const pool = solePoolAfter(layer);
    if (pool === null) continue;
    n++;
    const padLayer = layer as unknown as { call: Call; [FUSED]?: true };
    if (padLayer[FUSED]) continue;
    padLayer[FUSED] = true;
    const padCall = padLayer.call.bind(layer);
    const poolLayer = pool as unknown as { call: Call };
    const poolCall = poolLayer.call.bind(pool);
    const [[top, bottom], [left, right]] = (layer as unknown as PadState).padding;
    const p = pool as unknown as PoolState;
    const attrs: MaxPoolZeroPadAttrs = {
      filterSize: p.poolSize,
      strides: p.strides,
      pads: [top, bottom, left, right],
    };
    // Whether the last training call of the padding layer passed its input through.
    let deferred = false;
    padLayer.call = (inputs, kwargs) => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      deferred =
        kwargs['training'] === true &&
        x.rank === 4 &&
        x.dtype === 'float32' &&
        tf.getKernel(MAX_POOL_ZERO_PAD, tf.getBackend()) !== undefined &&
        tf.getKernel(MAX_POOL_ZERO_PAD_GRAD, tf.getBackend()) !== undefined;
      return deferred ? x : padCall(inputs, kwargs);
    };
    poolLayer.call = (inputs, kwargs) => {
      if (kwargs['training'] !== true || !deferred) return poolCall(inputs, kwargs);
      const x = (Array.isArray(inputs) ? inputs[0]! : inputs) as tf.Tensor4D;
      return tf.tidy(() => maxPoolZeroPad(x, attrs));
    };
  }
  return n;
}
