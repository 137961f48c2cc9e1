// `tfjs-ddp check --model FILE --data FILE`: tries a task in one process before a run (worker's
// checkTask: modules, model, data, one micro-batch, one step) and measures the memory per sample the
// memory-fit search would use (two trial steps in probe children, as the search runs them).
import { formatBytes } from '@tfjs-ddp/core';
import { checkTask, defaultProbes, runProbeChild, selectBackend } from '@tfjs-ddp/worker';
import { positiveIntFlag } from '../args';
import { defineCommand, type OptionSpec } from '../command';
import { workerSettings } from '../groups';
import { configFromValues, TRAIN_OPTIONS } from './train';

const FROM_TRAIN = [
  'config',
  'model',
  'data',
  'set',
  'backend',
  'seed',
  'lr',
  'momentum',
  'resize',
  'pool',
  'data-dir',
  'verify-data',
];

export const checkCommand = defineCommand({
  name: 'check',
  summary: 'Try a model and data module: one micro-batch, one step, memory per sample',
  description: [
    'Imports the model and data modules in this one process, builds the model, loads the data, takes',
    'one micro-batch (--micro-batch, default 8) and computes one training step, then measures the memory',
    'per sample as the memory-fit search does (two trial steps in child processes). Prints the model',
    'summary, the parameter counts, the input and label shapes, the loss and accuracy of the step and',
    'the bytes per sample; or the first error, what it is about and what to do (exit code 2).',
  ].join('\n'),
  options: {
    ...Object.fromEntries(FROM_TRAIN.map((k) => [k, TRAIN_OPTIONS[k]!])),
    'micro-batch': { type: 'string', valueName: 'N', description: 'samples in the step (default 8)' },
    json: { type: 'boolean', description: 'print one JSON object' },
  } as Record<string, OptionSpec>,
  async run(values, io) {
    const microBatch = positiveIntFlag('micro-batch', values['micro-batch'], 8, 'check');
    const { config } = configFromValues({ ...values, 'micro-batch': undefined }, io);
    const backend = await selectBackend(config.backend);
    // The settings a worker of this run would get: its task, the seed's resize/pool, the data flags.
    const settings = workerSettings(config, null);
    const c = await checkTask(
      settings,
      microBatch,
      io.env,
    );
    const sizes = defaultProbes(config.resize, 64);
    const trials = await runProbeChild({ ...settings, backend: backend.chosen }, sizes, {
      env: io.env as NodeJS.ProcessEnv,
    });
    const [a, b] = trials;
    const perSample =
      a?.ran && b?.ran && a.peakBytes !== null && b.peakBytes !== null
        ? (b.peakBytes - a.peakBytes) / (b.microBatch - a.microBatch)
        : null;
    const report = {
      backend: backend.chosen,
      model: c.modules.model,
      model_sha256: c.modules.modelSha256,
      data: c.modules.data,
      data_sha256: c.modules.dataSha256,
      trainable_params: c.trainableParams,
      non_trainable_params: c.nonTrainableParams,
      input_shape: c.inputShape,
      output_shape: c.outputShape,
      train_count: c.trainSize,
      test_count: c.testSize,
      batch: c.batch,
      loss: c.loss,
      acc: c.acc,
      metrics: c.metrics,
      optimizer: c.optimizer,
      step_ms: Math.round(c.stepMs),
      bytes_per_sample: perSample,
      trials: trials.map((t) => ({
        micro_batch: t.microBatch,
        ran: t.ran,
        peak_bytes: t.peakBytes,
        ...(t.error ? { error: t.error } : {}),
      })),
    };
    if (values.json) {
      io.stdout.write(`${JSON.stringify(report)}\n`);
      return 0;
    }
    const shape = (s: (number | null)[]) => `[${s.map((d) => d ?? 'n').join(', ')}]`;
    io.stdout.write(
      [
        `model:   ${c.modules.model}${c.modules.modelSha256 ? ` (sha256 ${c.modules.modelSha256.slice(0, 16)})` : ''}`,
        `data:    ${c.modules.data}${c.modules.dataSha256 ? ` (sha256 ${c.modules.dataSha256.slice(0, 16)})` : ''}: ${c.trainSize} train, ${c.testSize ?? 'no'} test samples`,
        ...c.summary,
        `params:  ${c.trainableParams.toLocaleString('en-US')} trainable, ${c.nonTrainableParams.toLocaleString('en-US')} non-trainable; input ${shape(c.inputShape)} → output ${shape(c.outputShape)}`,
        `batch:   ${c.batch.samples} samples: xs ${shape(c.batch.xs.shape)} ${c.batch.xs.dtype}, ys ${shape(c.batch.ys.shape)} ${c.batch.ys.dtype}`,
        `step:    loss ${c.loss.toFixed(4)} per sample, acc ${c.acc.toFixed(4)}${Object.entries(c.metrics).map(([k, v]) => `, ${k} ${v.toFixed(4)}`).join('')}, ${c.optimizer}, ${Math.round(c.stepMs)} ms on ${backend.chosen}`,
        `memory:  ${memoryLine(perSample, trials, sizes)}`,
        'ok: the task trains',
        '',
      ].join('\n'),
    );
    return 0;
  },
});

/** The memory line: bytes per sample, or why the two trial steps could not tell. */
function memoryLine(perSample: number | null, trials: { ran: boolean; peakBytes: number | null; error?: string }[], sizes: number[]): string {
  if (perSample === null) return `not measured (${trials.find((t) => !t.ran)?.error ?? 'no trial ran'})`;
  // The wasm heap grows in 16 MiB steps: a small model's two trials can end on the same step.
  if (perSample <= 0) return `too little to measure: trial steps at ${sizes.join(' and ')} samples both peaked at ${formatBytes(trials[1]?.peakBytes ?? 0)}`;
  return `${formatBytes(perSample)} per sample (trial steps at ${sizes.join(' and ')} samples)`;
}
