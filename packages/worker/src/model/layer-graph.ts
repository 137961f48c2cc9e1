// What the training-time fusions (fuse-*.ts) read of tfjs-layers' private layer graph, and the shape
// of a layer's `call`, which they replace on layer instances.
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

export type Kwargs = Record<string, unknown>;
export type Call = (inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs) => tf.Tensor | tf.Tensor[];

export interface NodeLike {
  outboundLayer: tfl.layers.Layer;
}

/** A layer's (or a nested model's) links: its sublayers, and the nodes it is called from and by. */
export interface Graph {
  layers?: tfl.layers.Layer[];
  inboundNodes: NodeLike[];
  outboundNodes: NodeLike[];
}

/** The one layer that alone consumes `layer`'s output (neither of them shared), else null. */
export function soleConsumer(layer: tfl.layers.Layer): tfl.layers.Layer | null {
  const g = layer as unknown as Graph;
  if (g.inboundNodes.length !== 1 || g.outboundNodes.length !== 1) return null;
  const next = g.outboundNodes[0]!.outboundLayer;
  return (next as unknown as Graph).inboundNodes.length === 1 ? next : null;
}
