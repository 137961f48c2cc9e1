// `tfjs-ddp find-batch`: the memory-fit search on its own — the largest micro-batch of the model that
// fits this machine's memory (the wasm heap, the GPU, or --memory-budget), found with at most 4 trial
// steps in throw-away child processes — what `train --micro-batch auto` does in every worker.
import { AUTO_BATCH_LIMIT, formatBytes, searchLimit } from '@tfjs-ddp/core';
import { fitMicroBatch, selectBackend } from '@tfjs-ddp/worker';
import { defineCommand, type OptionSpec } from '../command';
import { workerSettings } from '../groups';
import { configFromValues, TRAIN_OPTIONS } from './train';

const FROM_TRAIN = ['config', 'preset', 'model', 'data', 'set', 'resize', 'pool', 'seed', 'backend', 'memory-budget', 'memory-margin', 'batch-size', 'data-dir', 'verify-data'];

export const findBatchCommand = defineCommand({
  name: 'find-batch',
  summary: 'Find the largest micro-batch that fits this machine (memory-fit search)',
  description: [
    'Measures the model\'s memory footprint with trial training steps in child processes (so running out of',
    'memory costs nothing), fits it, predicts the largest micro-batch within the budget less the margin,',
    'and confirms it with one more step: at most 4 trial steps. The budget is the backend\'s limit (wasm',
    `heap 4 GiB, GPU memory via nvidia-smi, or RAM / cores), capped by --memory-budget. Looks no further`,
    `than --batch-size (default ${AUTO_BATCH_LIMIT} here). Settings as for train (flags > environment > --config).`,
  ].join('\n'),
  options: {
    ...Object.fromEntries(FROM_TRAIN.map((k) => [k, TRAIN_OPTIONS[k]!])),
    json: { type: 'boolean', description: 'print one JSON object' },
  } as Record<string, OptionSpec>,
  async run(values, io) {
    const { config } = configFromValues({ 'batch-size': String(AUTO_BATCH_LIMIT), ...values }, io);
    const backend = await selectBackend(config.backend);
    const r = await fitMicroBatch({
      // The task and data settings a worker of this run would get.
      ...workerSettings(config, null),
      backend: backend.chosen,
      budgetBytes: config.memoryBudget,
      margin: config.memoryMargin,
      maxMicroBatch: searchLimit(config.batchSize),
      env: io.env as NodeJS.ProcessEnv,
    });
    const report = {
      backend: backend.chosen,
      resize: config.resize,
      micro_batch: r.microBatch,
      capped: r.capped,
      budget_bytes: r.budgetBytes,
      usable_bytes: r.usableBytes,
      base_bytes: r.model?.baseBytes ?? null,
      bytes_per_sample: r.model?.bytesPerSample ?? null,
      trials: r.trials.map((t) => ({ micro_batch: t.microBatch, ran: t.ran, peak_bytes: t.peakBytes, ms: Math.round(t.ms), ...(t.error ? { error: t.error } : {}) })),
      search_s: r.ms / 1000,
    };
    if (values.json) {
      io.stdout.write(`${JSON.stringify(report)}\n`);
      return 0;
    }
    for (const t of r.trials) io.stdout.write(`trial: micro-batch ${t.microBatch}: ${t.ran ? `peak ${formatBytes(t.peakBytes ?? 0)}` : `failed (${t.error ?? '?'})`}, ${(t.ms / 1000).toFixed(1)} s\n`);
    // A fitted line through trials whose peaks are rounded (the wasm heap grows in 16 MiB steps) can
    // start below zero: then only the per-sample slope means anything.
    const base = r.model !== null && r.model.baseBytes > 0 ? `${formatBytes(r.model.baseBytes)}${r.model.bytesPerSample <= 1 ? ', ' : ' + '}` : '';
    // A slope of 1 byte is the fit's floor: the trials could not tell the samples apart.
    const perSample =
      r.model === null ? '' : r.model.bytesPerSample <= 1 ? 'too little per sample to measure' : `${formatBytes(r.model.bytesPerSample)} per sample`;
    const model = r.model ? `; footprint ≈ ${base}${perSample}` : '';
    // --resize is the seed's (builtin:densenet) input size; a user's model has its own.
    const where = config.model.startsWith('builtin:') ? `${backend.chosen}, ${config.resize}×${config.resize}` : backend.chosen;
    io.stdout.write(
      `micro-batch ${r.microBatch}${r.capped ? ' (the search limit: more would fit)' : ''} fits ${formatBytes(r.usableBytes)} usable of ${formatBytes(r.budgetBytes)} (${where})${model}; ${r.trials.length} trial steps, ${(r.ms / 1000).toFixed(1)} s\n`,
    );
    return 0;
  },
});
