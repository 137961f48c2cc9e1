import { DEFAULT_TRAIN_CONFIG } from '@tfjs-ddp/core';
import { describe, expect, it } from 'vitest';
import { workerSettings } from './groups';

describe('workerSettings: how far the memory-fit search looks', () => {
  it("stops at a rank's share of the global batch", () => {
    expect(workerSettings({ ...DEFAULT_TRAIN_CONFIG, batchSize: 256 }, null, 2).searchLimit).toBe(128);
    expect(workerSettings({ ...DEFAULT_TRAIN_CONFIG, batchSize: 100 }, null, 3).searchLimit).toBe(34);
  });

  it('with --min-workers, at the share of the fewest ranks the run goes on with', () => {
    expect(workerSettings({ ...DEFAULT_TRAIN_CONFIG, batchSize: 256, minWorkers: 1 }, null, 4).searchLimit).toBe(256);
    expect(workerSettings({ ...DEFAULT_TRAIN_CONFIG, batchSize: 256, minWorkers: 2 }, null, 4).searchLimit).toBe(128);
  });

  it('has no limit of its own for --batch-size auto, or when the number of ranks is not given', () => {
    expect(workerSettings({ ...DEFAULT_TRAIN_CONFIG, batchSize: 'auto' }, null, 2)).not.toHaveProperty('searchLimit');
    expect(workerSettings({ ...DEFAULT_TRAIN_CONFIG, batchSize: 256 }, null)).not.toHaveProperty('searchLimit');
  });
});
