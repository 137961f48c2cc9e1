// A conv layer's filter and bias gradients from one kernel (CONV_FILTER_BIAS_GRAD) for any
// tf.LayersModel, where the backend has that kernel (webgpu; wasm with oneDNN): every Conv2D layer with a bias, linear
// activation, NHWC data and no dilation trains through conv2dBiasTraining below, whose forward is
// the same FusedConv2D kernel tfjs-layers runs and whose gradient is Conv2DBackpropInput (as
// tfjs') and that one kernel instead of Conv2DBackpropFilter and a Sum. The input's gradient is
// computed only where the reverse pass reads it (lean-backprop's gradientWanted): not for the
// image a first layer (the seed's stem) takes. As with fuse-batch-norm-relu.ts, only the layer
// instances' `call` in training mode changes: class names, weights and weight names stay, so the
// model saves and loads as before, and inference runs the stock code.
import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap } from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { CONV_FILTER_BIAS_GRAD } from '../kernels/conv-filter-bias-grad';
import { gradientWanted } from '../train/lean-backprop';
import type { Call, Graph } from './layer-graph';

/** The private state of tfjs-layers' Conv2D that the training path reads. */
interface ConvState {
  rank: number;
  strides: number[];
  padding: string;
  dataFormat: string;
  dilationRate: number | number[];
  activation: { getClassName(): string };
  kernel: tfl.LayerVariable;
  bias: tfl.LayerVariable | null;
}
const FUSED = Symbol('tfjs-ddp conv bias gradient');

/**
 * y = conv2d(x, filter) + bias (NHWC, stride `strides`, padding `pad`), differentiated with one
 * CONV_FILTER_BIAS_GRAD kernel for the filter and bias gradients.
 */
export function conv2dBiasTraining(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  bias: tf.Tensor1D,
  strides: [number, number],
  pad: 'same' | 'valid',
): tf.Tensor4D {
  const run = (name: string, inputs: tf.NamedTensorMap, attrs: object) =>
    tf.engine().runKernel(name, inputs, attrs as NamedAttrMap);
  const op = tf.customGrad((...args: (tf.Tensor | ((t: tf.Tensor[]) => void))[]) => {
    const [xi, f, b] = args as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D];
    const save = args[3] as (t: tf.Tensor[]) => void;
    const y = run(
      'FusedConv2D',
      { x: xi, filter: f, bias: b },
      { strides, pad, dataFormat: 'NHWC', dilations: [1, 1], activation: 'linear' },
    ) as tf.Tensor4D;
    save([xi, f]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xs, fs] = saved as [tf.Tensor4D, tf.Tensor4D];
        const common = { strides, pad, dataFormat: 'NHWC' };
        // The input's gradient only where it is read (not for an image fed to the first conv): a
        // scalar stands in for it otherwise, as tf.customGrad needs a tensor per input.
        const dx = gradientWanted(xi)
          ? (run('Conv2DBackpropInput', { dy: dy as tf.Tensor, filter: fs }, { ...common, inputShape: xs.shape }) as tf.Tensor)
          : tf.scalar(0);
        const [dw, db] = run(
          CONV_FILTER_BIAS_GRAD,
          { x: xs, dy: dy as tf.Tensor },
          { ...common, filterShape: fs.shape },
        ) as tf.Tensor[];
        return [dx, dw!, db!];
      },
    };
  });
  return op(x, filter, bias) as tf.Tensor4D;
}

/** Whether `layer` is a Conv2D this op can train: bias, linear activation, NHWC, no dilation. */
function eligible(layer: tfl.layers.Layer): boolean {
  if (layer.getClassName() !== 'Conv2D') return false;
  const s = layer as unknown as ConvState;
  const dilations = typeof s.dilationRate === 'number' ? [s.dilationRate] : s.dilationRate;
  return (
    s.rank === 2 &&
    s.bias != null &&
    s.activation.getClassName() === 'linear' &&
    s.dataFormat === 'channelsLast' &&
    dilations.every((d) => d === 1) &&
    (s.padding === 'same' || s.padding === 'valid')
  );
}

/**
 * Routes the model's eligible Conv2D layers (nested models included) through conv2dBiasTraining in
 * training mode, on backends that have CONV_FILTER_BIAS_GRAD. Idempotent; returns how many layers.
 */
export function fuseConvBiasGradient(model: tfl.LayersModel | tfl.layers.Layer): number {
  let n = 0;
  for (const layer of (model as unknown as Graph).layers ?? []) {
    if ((layer as unknown as Graph).layers !== undefined) {
      n += fuseConvBiasGradient(layer);
      continue;
    }
    if (!eligible(layer)) continue;
    n++;
    const patched = layer as unknown as { call: Call; [FUSED]?: true };
    if (patched[FUSED]) continue;
    patched[FUSED] = true;
    const stockCall = patched.call.bind(layer);
    const s = layer as unknown as ConvState;
    patched.call = (inputs, kwargs) => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      if (
        kwargs['training'] !== true ||
        x.rank !== 4 ||
        x.dtype !== 'float32' ||
        tf.getKernel(CONV_FILTER_BIAS_GRAD, tf.getBackend()) === undefined
      )
        return stockCall(inputs, kwargs);
      return tf.tidy(() =>
        conv2dBiasTraining(
          x as tf.Tensor4D,
          s.kernel.read() as tf.Tensor4D,
          s.bias!.read() as tf.Tensor1D,
          s.strides as [number, number],
          s.padding as 'same' | 'valid',
        ),
      );
    };
  }
  return n;
}
