// Concat-free dense blocks, for any tf.LayersModel: a Concatenate over the last axis whose output
// only BatchNormalization layers and other such Concatenates read makes no concatenation in
// training. It returns a placeholder of shape [1, …, 1, C] (what the consumers' input checks read:
// rank and last axis) that stands for the list of its inputs' channel parts, a Concatenate of a
// placeholder extends the list, and a BatchNormalization given one normalizes the parts where they
// are (BN_TRAIN_PARTS; its ReLU'd output is contiguous, so the conv after it is unchanged) and
// returns each part's gradient, with that part's gradient from its other readers added in the same
// pass (train/lean-backprop.ts). In the seed's dense blocks that removes every Concat and SplitV,
// and the BatchNorms keep the block's parts instead of each concatenation for the backward pass.
// Only where the backend has the parts kernels (wasm, cpu and webgpu: kernels/batch-norm-parts.ts)
// and in training; elsewhere (tensorflow), and in inference, the stock Concatenate runs. A BatchNormalization that cannot take the parts
// (inference, another axis) makes the concatenation itself (materialize). The layers, their weights
// and the saved model are unchanged.
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { BN_TRAIN_PARTS } from '../kernels/batch-norm-parts';
import type { Call, Graph } from './layer-graph';

const PARTS = new WeakMap<tf.Tensor, tf.Tensor[]>();
const PATCHED = Symbol('tfjs-ddp concat parts');

/** The channel parts a placeholder stands for, or undefined for a real tensor. */
export function concatParts(t: tf.Tensor): tf.Tensor[] | undefined {
  return PARTS.get(t);
}

/** `inputs` with a placeholder replaced by the concatenation it stands for. */
export function materialize(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor | tf.Tensor[] {
  const one = (t: tf.Tensor) => {
    const parts = PARTS.get(t);
    return parts === undefined ? t : tf.concat(parts, -1);
  };
  return Array.isArray(inputs) ? inputs.map(one) : one(inputs);
}

function lastAxis(layer: tfl.layers.Layer): boolean {
  const axis = (layer.getConfig() as { axis?: number }).axis ?? -1;
  if (axis === -1) return true;
  const inputs = layer.getInputAt(0) as unknown as { shape: unknown[] }[];
  return Array.isArray(inputs) && inputs.length > 0 && axis === inputs[0]!.shape.length - 1;
}

/** Every Concatenate layer of `model` and its nested models, with the model whose outputs it may be. */
function concatenates(
  model: tfl.LayersModel | tfl.layers.Layer,
  out: [tfl.layers.Layer, Graph][] = [],
): [tfl.layers.Layer, Graph][] {
  const g = model as unknown as Graph & { outputLayers?: tfl.layers.Layer[] };
  for (const layer of g.layers ?? []) {
    if ((layer as unknown as Graph).layers !== undefined) concatenates(layer, out);
    else if (layer.getClassName() === 'Concatenate') out.push([layer, g]);
  }
  return out;
}

/**
 * Patches the Concatenate layers whose outputs only BatchNormalization layers and other patched
 * Concatenates read (not a model's output, not shared). Call after fuseBatchNormRelu, whose
 * BatchNormalization calls take the placeholders. Idempotent; returns how many are patched.
 */
export function fuseConcatParts(model: tfl.LayersModel | tfl.layers.Layer): number {
  const all = concatenates(model);
  const candidates = new Set(
    all
      .filter(([layer, owner]) => {
        const g = layer as unknown as Graph;
        const outputs = (owner as unknown as { outputLayers?: tfl.layers.Layer[] }).outputLayers ?? [];
        return (
          g.inboundNodes.length === 1 &&
          g.outboundNodes.length > 0 &&
          !outputs.includes(layer) &&
          lastAxis(layer)
        );
      })
      .map(([layer]) => layer),
  );
  // Drop any whose readers are not all BatchNormalization layers or remaining candidates, until none changes.
  for (let changed = true; changed;) {
    changed = false;
    for (const layer of candidates) {
      const readers = (layer as unknown as Graph).outboundNodes.map((n) => n.outboundLayer);
      if (!readers.every((r) => r.getClassName() === 'BatchNormalization' || candidates.has(r))) {
        candidates.delete(layer);
        changed = true;
      }
    }
  }
  for (const layer of candidates) {
    const patched = layer as unknown as { call: Call; [PATCHED]?: true };
    if (patched[PATCHED]) continue;
    patched[PATCHED] = true;
    const stockCall = patched.call.bind(layer);
    patched.call = (inputs, kwargs) => {
      const list = Array.isArray(inputs) ? inputs : [inputs];
      const parts = list.flatMap((t) => PARTS.get(t) ?? [t]);
      const lead = parts[0]!.shape.slice(0, -1);
      const fits =
        kwargs['training'] === true &&
        tf.getKernel(BN_TRAIN_PARTS, tf.getBackend()) !== undefined &&
        parts.every(
          (p) =>
            p.dtype === 'float32' &&
            p.rank === lead.length + 1 &&
            p.shape.slice(0, -1).every((d, i) => d === lead[i]),
        );
      if (!fits) return stockCall(materialize(inputs), kwargs);
      const C = parts.reduce((s, p) => s + p.shape[p.rank - 1]!, 0);
      const placeholder = tf.zeros([...lead.map(() => 1), C]);
      PARTS.set(placeholder, parts);
      return placeholder;
    };
  }
  return candidates.size;
}
