// InputConv2D: tfjs-layers' Conv2D for the first layer of a network. The stock layer runs
// tf.fused.conv2d, whose custom gradient always computes the input gradient too, even when the
// input is the image and nothing needs it; for the DenseNet stem (7×7/2, 1→64 channels) that
// unused Conv2DBackpropInput cost more than all other conv gradients together (docs/kernels.md).
// Here the conv and the bias add are separate ops, so autodiff prunes the unused gradient.
// Serialises as a plain "Conv2D". Used by densenet.ts.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

type Conv2DArgs = Parameters<typeof tfl.layers.conv2d>[0];

interface ConvState {
  kernel: tfl.LayerVariable;
  bias: tfl.LayerVariable | null;
  strides: [number, number];
  padding: 'valid' | 'same';
  dataFormat: string;
  dilationRate: [number, number];
  activation: { getClassName(): string };
}

const StockConv2D = Object.getPrototypeOf(tfl.layers.conv2d({ filters: 1, kernelSize: 1 })).constructor as new (
  args: Conv2DArgs,
) => tfl.layers.Layer;

export class InputConv2D extends StockConv2D {
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    const s = this as unknown as ConvState;
    if (s.dataFormat !== 'channelsLast' || s.activation.getClassName().toLowerCase() !== 'linear') return super.call(inputs, kwargs);
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0]! : inputs) as tf.Tensor4D;
      const y = tf.conv2d(x, s.kernel.read() as tf.Tensor4D, s.strides, s.padding, 'NHWC', s.dilationRate);
      return s.bias === null ? y : tf.add(y, s.bias.read());
    });
  }
}

/** A drop-in for tfl.layers.conv2d for a layer whose input needs no gradient. */
export function inputConv2d(args: Conv2DArgs): tfl.layers.Layer {
  return new InputConv2D(args);
}
