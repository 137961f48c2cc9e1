import { describe, expect, it } from 'vitest';
import { configToFile, DEFAULT_TRAIN_CONFIG, envName, fileKey, resolveTrainConfig, TRAIN_FIELDS } from './train-config';

describe('resolveTrainConfig', () => {
  it('gives the seed recipe by default: SGD lr 0.1, batch 256, 10 epochs, resize 96, seed 0, backend auto', () => {
    const { config, sources } = resolveTrainConfig();
    expect(config).toMatchObject({ lr: 0.1, momentum: 0, batchSize: 256, epochs: 10, resize: 96, seed: 0, backend: 'auto', pool: 'max' });
    expect(sources.lr).toBe('default');
  });

  it('applies flags over environment over config file over preset over defaults', () => {
    const { config, sources } = resolveTrainConfig({
      file: { lr: 0.05, epochs: 3, seed: 7, preset: 'quick' },
      filePath: 'run.json',
      env: { TFJS_DDP_EPOCHS: '4', TFJS_DDP_SEED: '8' },
      flags: { seed: '9' },
    });
    expect(config.resize).toBe(32);
    expect(sources.resize).toBe('preset');
    expect(config.lr).toBe(0.05);
    expect(sources.lr).toBe('config file');
    expect(config.epochs).toBe(4);
    expect(sources.epochs).toBe('environment');
    expect(config.seed).toBe(9);
    expect(sources.seed).toBe('flag');
  });

  it('names environment variables TFJS_DDP_<KEY> and accepts TFJS_DDP_DATA for the data directory', () => {
    expect(envName('batchSize')).toBe('TFJS_DDP_BATCH_SIZE');
    const { config } = resolveTrainConfig({ env: { TFJS_DDP_DATA: '/d' } });
    expect(config.dataDir).toBe('/d');
    // Not the data module as well: that one is TFJS_DDP_DATA_MODULE.
    expect(config.data).toBe(DEFAULT_TRAIN_CONFIG.data);
    expect(envName('data')).toBe('TFJS_DDP_DATA_MODULE');
    expect(resolveTrainConfig({ env: { TFJS_DDP_DATA_MODULE: '/m.mjs' } }).config.data).toBe('/m.mjs');
  });

  it.each([
    [{ flags: { lr: 'abc' } }, /E_CONFIG: --lr must be a number, got "abc"/],
    [{ flags: { lr: '0x10' } }, /E_CONFIG: --lr must be a number, got "0x10"/],
    [{ flags: { lr: '-1' } }, /--lr must be > 0, got "-1"/],
    [{ flags: { batchSize: '2.5' } }, /--batch-size must be an integer, got "2.5"/],
    [{ flags: { backend: 'webgl' } }, /--backend must be one of auto, tensorflow-gpu, webgpu, tensorflow, wasm, cpu, got "webgl"/],
    [{ flags: { resize: '16' } }, /--resize must be ≥ 29, got "16"/],
    [{ flags: { momentum: '1' } }, /--momentum must be < 1, got "1"/],
    [{ env: { TFJS_DDP_EPOCHS: 'ten' } }, /environment variable TFJS_DDP_EPOCHS must be an integer, got "ten"/],
    [{ file: { epochz: 3 }, filePath: 'c.json' }, /unknown key "epochz" in c.json/],
    [{ file: { epochs: 0 }, filePath: 'c.json' }, /"epochs" in c.json must be ≥ 1, got 0/],
    [{ file: { batch_size: 0 }, filePath: 'c.json' }, /"batch_size" in c.json must be ≥ 1, got 0/],
    [{ file: { batchSize: 0 }, filePath: 'c.json' }, /"batchSize" \(now "batch_size"\) in c.json must be ≥ 1, got 0/],
    [{ file: { batch_size: 32, batchSize: 32 }, filePath: 'c.json' }, /E_CONFIG: c.json gives "batch_size" and "batchSize": both are the setting batch_size/],
    [{ file: { maxSteps: 3, max_steps: 4 }, filePath: 'c.json' }, /E_CONFIG: c.json gives "maxSteps" and "max_steps": both are the setting max_steps/],
    [{ file: { batch_Size: 3 }, filePath: 'c.json' }, /unknown key "batch_Size" in c.json/],
    [{ flags: { microBatch: '300' } }, /--micro-batch 300 is larger than --batch-size 256/],
    [{ flags: { microBatch: 'most' } }, /--micro-batch must be an integer, got "most"/],
    [{ flags: { memoryBudget: 'lots' } }, /--memory-budget must be a size of at least 1MiB, like 3GiB, 1500MiB or 2e9, got "lots"/],
    [{ flags: { memoryBudget: '512' } }, /--memory-budget must be a size of at least 1MiB/],
    [{ flags: { memoryMargin: '0.95' } }, /--memory-margin must be < 0.9, got "0.95"/],
  ])('rejects %j quoting the value and where it came from', (layers, message) => {
    expect(() => resolveTrainConfig(layers)).toThrow(message);
  });

  it('measures the micro-batch by default; auto sizes and byte units are accepted', () => {
    expect(resolveTrainConfig().config).toMatchObject({ microBatch: 'auto', memoryBudget: null, memoryMargin: 0.05 });
    const { config } = resolveTrainConfig({ flags: { batchSize: 'auto', microBatch: '64', memoryBudget: '3GiB' }, env: { TFJS_DDP_MEMORY_MARGIN: '0.1' } });
    expect(config).toMatchObject({ batchSize: 'auto', microBatch: 64, memoryBudget: 3 * 2 ** 30, memoryMargin: 0.1 });
    expect(resolveTrainConfig({ file: { microBatch: null, memoryBudget: 2e9 } }).config).toMatchObject({ microBatch: 'auto', memoryBudget: 2e9 });
  });

  it('writes config files with snake_case keys (the flag with _ for -) that read back as the same config', () => {
    expect(fileKey('batchSize')).toBe('batch_size');
    expect(fileKey('maxSkippedSteps')).toBe('max_skipped_steps');
    const { config } = resolveTrainConfig({ flags: { batchSize: '32', microBatch: '8', memoryBudget: '2GiB', maxSteps: '5', gpus: '0,1', shareGpu: true, dataDir: '/d' } });
    const file = configToFile(config);
    expect(Object.keys(file)).toEqual(Object.values(TRAIN_FIELDS).map((f) => f.flag.replace(/-/g, '_')));
    for (const k of Object.keys(file)) expect(k).toMatch(/^[a-z][a-z0-9_]*$/);
    expect(file).toMatchObject({ batch_size: 32, micro_batch: 8, memory_budget: 2 * 2 ** 30, max_steps: 5, gpus: [0, 1], share_gpu: true, data_dir: '/d', run_dir: null });
    const back = resolveTrainConfig({ file });
    expect(back.config).toEqual(config);
    expect(back.sources.batchSize).toBe('config file');
  });

  it('still reads the camelCase keys of a config.json written before config files were snake_case (resume of an old run)', () => {
    const { config, sources } = resolveTrainConfig({ file: { batchSize: 32, microBatch: 8, maxSteps: 5, checkpointEvery: 0, shareGpu: true, runDir: null, lr: 0.05 } });
    expect(config).toMatchObject({ batchSize: 32, microBatch: 8, maxSteps: 5, checkpointEvery: 0, shareGpu: true, runDir: null, lr: 0.05 });
    expect(sources.maxSteps).toBe('config file');
  });

  it('does not change the exported defaults', () => {
    resolveTrainConfig({ flags: { lr: '0.5' } });
    expect(DEFAULT_TRAIN_CONFIG.lr).toBe(0.1);
  });
});
