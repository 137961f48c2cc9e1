// The seed's DenseNet (Dive into Deep Learning §7.7, PyTorch version) as a tfjs LayersModel, NHWC.
// Built with the functional API from stock layers only, so the exported model.json loads with plain
// tf.loadLayersModel. Called by the train step, the benchmarks and the tests.
import * as tfl from '@tensorflow/tfjs-layers';
import { DdpError } from '@tfjs-ddp/core';
import { fastBatchNormalization } from './fast-batch-norm';
import { inputConv2d } from './input-conv2d';

export type GlobalPool = 'max' | 'avg';

/** Architecture knobs; defaults are the seed's (758,226 trainable parameters at any input size). */
export interface DenseNetArgs {
  /** Input height = width (the seed resizes Fashion-MNIST to 96). */
  inputSize?: number;
  /** Input channels (1 for Fashion-MNIST). */
  inputChannels?: number;
  /** Channels added by every conv in a dense block. */
  growthRate?: number;
  /** Convs per dense block, one entry per block. */
  convsPerBlock?: readonly number[];
  /** Stem output channels. */
  stemChannels?: number;
  numClasses?: number;
  /** The seed uses global max pooling before the classifier; `avg` is d2l's book default. */
  globalPool?: GlobalPool;
  /** Seed for the Xavier-uniform initialisers (deterministic weights for a given seed). */
  seed?: number;
  /** false drops every BatchNorm (tests of batch-split invariance only; not the seed model). */
  batchNorm?: boolean;
}

export type ResolvedDenseNetArgs = Required<DenseNetArgs>;

// PyTorch BatchNorm2d: momentum 0.1 (weight of the new batch), eps 1e-5; tfjs' momentum is the
// weight of the old value, hence 0.9.
const BN = { momentum: 0.9, epsilon: 1e-5, axis: -1 } as const;

export function resolveDenseNetArgs(args: DenseNetArgs = {}): ResolvedDenseNetArgs {
  const r: ResolvedDenseNetArgs = {
    inputSize: args.inputSize ?? 96,
    inputChannels: args.inputChannels ?? 1,
    growthRate: args.growthRate ?? 32,
    convsPerBlock: args.convsPerBlock ?? [4, 4, 4, 4],
    stemChannels: args.stemChannels ?? 64,
    numClasses: args.numClasses ?? 10,
    globalPool: args.globalPool ?? 'max',
    seed: args.seed ?? 0,
    batchNorm: args.batchNorm ?? true,
  };
  if (!Number.isInteger(r.inputSize) || finalFeatureSize(r.inputSize, r.convsPerBlock.length) < 1) {
    let min = 1;
    while (finalFeatureSize(min, r.convsPerBlock.length) < 1) min++;
    throw new DdpError('E_CONFIG', `input size ${r.inputSize} is too small for ${r.convsPerBlock.length} dense blocks`, `use at least ${min}`);
  }
  if (r.globalPool !== 'max' && r.globalPool !== 'avg') {
    throw new DdpError('E_CONFIG', `global pool '${String(r.globalPool)}' is not one of max, avg`);
  }
  return r;
}

/** Spatial size after the stem (conv 7/2 pad 3, max pool 3/2 pad 1) and `blocks − 1` transitions. */
export function finalFeatureSize(inputSize: number, blocks: number): number {
  let s = Math.floor((inputSize + 6 - 7) / 2) + 1;
  s = Math.floor((s + 2 - 3) / 2) + 1;
  for (let i = 1; i < blocks; i++) s = Math.floor(s / 2);
  return s;
}

/** Deterministic Xavier-uniform initialisers: one seed per layer, derived from the model seed. */
class Inits {
  private n = 0;
  constructor(
    private readonly seed: number,
    /** Whether the blocks include BatchNorm (see DenseNetArgs.batchNorm). */
    readonly batchNorm = true,
  ) {}
  next(): ReturnType<typeof tfl.initializers.glorotUniform> {
    return tfl.initializers.glorotUniform({ seed: this.seed * 1000 + this.n++ });
  }
}

function bnRelu(x: tfl.SymbolicTensor, name: string, inits: Inits): tfl.SymbolicTensor {
  const bn = inits.batchNorm ? (fastBatchNormalization({ ...BN, name: `${name}_bn` }).apply(x) as tfl.SymbolicTensor) : x;
  return tfl.layers.activation({ activation: 'relu', name: `${name}_relu` }).apply(bn) as tfl.SymbolicTensor;
}

/** BN → ReLU → conv3×3 (d2l `conv_block`). */
export function convBlock(x: tfl.SymbolicTensor, filters: number, name: string, inits = new Inits(0)): tfl.SymbolicTensor {
  const y = bnRelu(x, name, inits);
  return tfl.layers
    .conv2d({ filters, kernelSize: 3, padding: 'same', kernelInitializer: inits.next(), name: `${name}_conv` })
    .apply(y) as tfl.SymbolicTensor;
}

/** A dense block: every conv's output is concatenated onto its input (channels grow by `growth`). */
export function denseBlock(x: tfl.SymbolicTensor, convs: number, growth: number, name: string, inits = new Inits(0)): tfl.SymbolicTensor {
  let out = x;
  for (let k = 0; k < convs; k++) {
    const y = convBlock(out, growth, `${name}_c${k}`, inits);
    out = tfl.layers.concatenate({ axis: -1, name: `${name}_cat${k}` }).apply([out, y]) as tfl.SymbolicTensor;
  }
  return out;
}

/** BN → ReLU → conv1×1 → avgpool 2/2 (d2l `transition_block`). */
export function transitionBlock(x: tfl.SymbolicTensor, filters: number, name: string, inits = new Inits(0)): tfl.SymbolicTensor {
  const y = bnRelu(x, name, inits);
  const c = tfl.layers
    .conv2d({ filters, kernelSize: 1, kernelInitializer: inits.next(), name: `${name}_conv` })
    .apply(y) as tfl.SymbolicTensor;
  return tfl.layers.averagePooling2d({ poolSize: 2, strides: 2, name: `${name}_pool` }).apply(c) as tfl.SymbolicTensor;
}

/**
 * Builds the seed DenseNet. Padding is explicit where PyTorch's symmetric padding differs from
 * TensorFlow's 'same' (the stride-2 stem conv and max pool), so shapes and numerics match PyTorch's.
 * @throws DdpError E_CONFIG for an input size the architecture cannot take.
 */
export function buildDenseNet(args: DenseNetArgs = {}): tfl.LayersModel {
  const a = resolveDenseNetArgs(args);
  const inits = new Inits(a.seed, a.batchNorm);
  const input = tfl.input({ shape: [a.inputSize, a.inputSize, a.inputChannels], name: 'image' });

  // Stem: conv 7×7/2 pad 3 → BN → ReLU → maxpool 3/2 pad 1. Zero padding before the max pool is
  // exact because its input is post-ReLU (≥ 0).
  let x = tfl.layers.zeroPadding2d({ padding: 3, name: 'stem_pad' }).apply(input) as tfl.SymbolicTensor;
  x = inputConv2d({ filters: a.stemChannels, kernelSize: 7, strides: 2, kernelInitializer: inits.next(), name: 'stem_conv' }).apply(
    x,
  ) as tfl.SymbolicTensor;
  x = bnRelu(x, 'stem', inits);
  x = tfl.layers.zeroPadding2d({ padding: 1, name: 'stem_pool_pad' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'stem_pool' }).apply(x) as tfl.SymbolicTensor;

  let channels = a.stemChannels;
  a.convsPerBlock.forEach((convs, i) => {
    x = denseBlock(x, convs, a.growthRate, `block${i}`, inits);
    channels += convs * a.growthRate;
    if (i !== a.convsPerBlock.length - 1) {
      channels = Math.floor(channels / 2);
      x = transitionBlock(x, channels, `trans${i}`, inits);
    }
  });

  x = bnRelu(x, 'head', inits);
  x =
    a.globalPool === 'max'
      ? (tfl.layers.globalMaxPooling2d({ name: 'head_pool' }).apply(x) as tfl.SymbolicTensor)
      : (tfl.layers.globalAveragePooling2d({ name: 'head_pool' }).apply(x) as tfl.SymbolicTensor);
  const logits = tfl.layers
    .dense({ units: a.numClasses, kernelInitializer: inits.next(), name: 'logits' })
    .apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: logits, name: 'densenet' });
}

/** Number of trainable scalars (PyTorch's `sum(p.numel() for p in net.parameters())`). */
export function trainableParamCount(model: tfl.LayersModel): number {
  return model.trainableWeights.reduce((n, w) => n + w.shape.reduce<number>((a, b) => a * (b ?? 1), 1), 0);
}
