// The fused BatchNorm (+ ReLU) training op for any tf.LayersModel, not only the seed's: every
// BatchNormalization layer over the last axis trains through batchNormTrainingCall (two kernels
// where the backend has them), and one whose output goes only to a ReLU (an Activation('relu') or
// a ReLU layer without a cap or slope) applies that ReLU itself, the ReLU layer passing its input
// through. Nothing about the model changes but two layer instances' `call` in training mode: the
// layers, their class names, weights and weight names stay, so the model saves and loads as before,
// and inference runs the stock code.
import type * as tfl from '@tensorflow/tfjs-layers';
import { batchNormTrainingCall } from './fast-batch-norm';
import { materialize } from './fuse-concat-parts';
import { soleConsumer, type Call, type Graph } from './layer-graph';

const FUSED = Symbol('tfjs-ddp fused BatchNorm');

/** A plain ReLU layer: Activation('relu'), or ReLU() with no cap, slope or threshold. */
function isPlainRelu(layer: tfl.layers.Layer): boolean {
  const config = layer.getConfig() as Record<string, unknown>;
  if (layer.getClassName() === 'Activation') return config['activation'] === 'relu';
  if (layer.getClassName() === 'ReLU')
    return config['maxValue'] == null && !config['negativeSlope'] && !config['threshold'];
  return false;
}

/** The ReLU layer that alone consumes `bn`'s output, if any (neither layer shared). */
function soleReluAfter(bn: tfl.layers.Layer): tfl.layers.Layer | null {
  const next = soleConsumer(bn);
  return next !== null && isPlainRelu(next) ? next : null;
}

export interface FusionReport {
  /** BatchNormalization layers that train through the fused op. */
  batchNorms: number;
  /** Of those, how many apply the ReLU that follows them. */
  withRelu: number;
}

/**
 * Routes the model's BatchNormalization layers (nested models included) through the fused
 * training op, folding in a ReLU that alone follows one. Idempotent.
 */
export function fuseBatchNormRelu(model: tfl.LayersModel | tfl.layers.Layer): FusionReport {
  const report: FusionReport = { batchNorms: 0, withRelu: 0 };
  for (const layer of (model as unknown as Graph).layers ?? []) {
    if ((layer as unknown as Graph).layers !== undefined) {
      const inner = fuseBatchNormRelu(layer);
      report.batchNorms += inner.batchNorms;
      report.withRelu += inner.withRelu;
      continue;
    }
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const patched = layer as unknown as { call: Call; [FUSED]?: FusionReport };
    const relu = soleReluAfter(layer);
    report.batchNorms++;
    if (relu !== null) report.withRelu++;
    if (patched[FUSED] !== undefined) continue;
    patched[FUSED] = report;
    const stockCall = patched.call.bind(layer);
    // Whether the last training call applied the ReLU (a channel axis that is not the last does not).
    let reluApplied = false;
    patched.call = (inputs, kwargs) => {
      const y = batchNormTrainingCall(layer, inputs, kwargs, relu !== null);
      reluApplied = y !== undefined && relu !== null;
      return y ?? stockCall(materialize(inputs), kwargs);
    };
    if (relu !== null) {
      const r = relu as unknown as { call: Call };
      const reluCall = r.call.bind(relu);
      r.call = (inputs, kwargs) => {
        if (kwargs['training'] === true && reluApplied) return Array.isArray(inputs) ? inputs[0]! : inputs;
        return reluCall(inputs, kwargs);
      };
    }
  }
  return report;
}
