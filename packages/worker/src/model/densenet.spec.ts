import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildDenseNet, denseBlock, trainableParamCount, transitionBlock } from './densenet';

describe('the seed DenseNet', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('has 758,226 trainable parameters, the same as the PyTorch anchor model', () => {
    expect(trainableParamCount(buildDenseNet())).toBe(758_226);
    expect(trainableParamCount(buildDenseNet({ inputSize: 32 }))).toBe(758_226);
  });

  it('maps a 4×8×8×3 input through a dense block of 2 convs with 10 channels to 4×8×8×23', () => {
    const input = tfl.input({ shape: [8, 8, 3] });
    const m = tfl.model({ inputs: input, outputs: denseBlock(input, 2, 10, 'b') });
    const y = m.predict(tf.zeros([4, 8, 8, 3])) as tf.Tensor;
    expect(y.shape).toEqual([4, 8, 8, 23]);
  });

  it('maps that 4×8×8×23 output through a transition to 10 channels to 4×4×4×10', () => {
    const input = tfl.input({ shape: [8, 8, 23] });
    const m = tfl.model({ inputs: input, outputs: transitionBlock(input, 10, 't') });
    expect((m.predict(tf.zeros([4, 8, 8, 23])) as tf.Tensor).shape).toEqual([4, 4, 4, 10]);
  });

  it('gives 10 logits per image at 96×96 and 32×32 inputs', () => {
    for (const s of [96, 32]) {
      const y = buildDenseNet({ inputSize: s }).predict(tf.zeros([2, s, s, 1])) as tf.Tensor;
      expect(y.shape).toEqual([2, 10]);
    }
  });

  it('builds identical initial weights for the same seed and different ones for another seed', () => {
    const w = (seed: number) => buildDenseNet({ inputSize: 32, seed }).getWeights()[0]!.dataSync();
    expect(Array.from(w(3))).toEqual(Array.from(w(3)));
    expect(Array.from(w(3))).not.toEqual(Array.from(w(4)));
  });

  it('rejects an input size too small for four dense blocks with a config error', () => {
    expect(() => buildDenseNet({ inputSize: 8 })).toThrow(/E_CONFIG: input size 8 is too small for 4 dense blocks; use at least 29/);
  });
});
