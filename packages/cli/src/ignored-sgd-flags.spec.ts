// The warning that --lr/--momentum do not apply to a task that brings its own optimizer: an audit
// found --lr 16 and --lr 0.0001 training a compiled model to the same loss without a word.
import { describe, expect, it } from 'vitest';
import { ignoredSgdFlags } from './run-training';

describe('ignoredSgdFlags', () => {
  it('names the flags the user set when the model brings its own optimizer', () => {
    expect(ignoredSgdFlags({ lr: 'flag', momentum: 'default' }, 'AdamOptimizer')).toBe(
      '--lr does not apply: the model module brings its own optimizer (AdamOptimizer), which trains at its own learning rate: set that one in the module (optimizer(ctx) or compile())',
    );
    expect(ignoredSgdFlags({ lr: 'environment', momentum: 'flag' }, 'SGDOptimizer')).toMatch(
      /^--lr and --momentum do not apply/,
    );
  });

  it('says nothing for the SGD from --lr, for values the user did not set, or for older workers', () => {
    expect(ignoredSgdFlags({ lr: 'flag', momentum: 'flag' }, null)).toBeNull();
    expect(ignoredSgdFlags({ lr: 'default', momentum: 'preset' }, 'AdamOptimizer')).toBeNull();
    expect(ignoredSgdFlags({ lr: 'flag' }, undefined)).toBeNull();
  });
});
