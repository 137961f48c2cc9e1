// `tfjs-ddp eval RUN_DIR`: the test loss and accuracy of a run's model on its task's test split
// (the model and data modules of its config.json, or another data module with --data), each sample
// counted once. `tfjs-ddp eval --model DIR`: a saved model directory (a run's model/ or a checkpoint)
// on all 10,000 Fashion-MNIST test images, as the seed's.
import { DdpError, resolveTrainConfig } from '@tfjs-ddp/core';
import { gatherImages, gatherLabels, loadFashionMnist } from '@tfjs-ddp/data';
import { evaluateSavedModel, evaluateTask, resolveTaskModule, selectBackend, BACKEND_CHOICES } from '@tfjs-ddp/worker';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { positiveIntFlag } from '../args';
import { backendFlag } from '../backend-flag';
import { defineCommand } from '../command';
import { readConfigFile, TRAIN_OPTIONS } from './train';

export const evalCommand = defineCommand({
  name: 'eval',
  summary: 'Report the test accuracy of a saved model',
  description: [
    'Evaluates the model a run saved (RUN_DIR/model) on the test split of the run\'s task: the model and',
    'data modules of RUN_DIR/config.json (--data for another data module, --set to change settings).',
    'With --model DIR instead: a directory with model.json and weights.bin (a run\'s model/ or a',
    'checkpoint of the seed\'s task) on the whole Fashion-MNIST test set.',
  ].join('\n'),
  options: {
    runDir: { type: 'string', valueName: 'RUN_DIR', positional: true, description: 'a run directory (its config.json and model/)' },
    data: { type: 'string', valueName: 'FILE', description: 'with RUN_DIR: another data module whose test split to use' },
    set: TRAIN_OPTIONS['set']!,
    model: { type: 'string', valueName: 'DIR', description: 'instead of RUN_DIR: a directory with model.json and weights.bin, evaluated on Fashion-MNIST' },
    backend: { type: 'string', valueName: 'NAME', description: 'backend (default: env TFJS_DDP_BACKEND, else auto)', choices: BACKEND_CHOICES },
    'data-dir': { type: 'string', valueName: 'DIR', description: "Fashion-MNIST directory (default: as for train; with RUN_DIR the run's setting)" },
    'verify-data': { type: 'string', valueName: 'true|false', description: "check the dataset SHA-256 (default true; with RUN_DIR the run's setting)", choices: ['true', 'false'] },
    'batch-size': { type: 'string', valueName: 'N', description: 'samples per evaluation batch (default 256; halved where a batch runs out of memory)' },
    json: { type: 'boolean', description: 'print one JSON object' },
  },
  async run(values, io) {
    const dir = values.model;
    const opts = {
      batchSize: positiveIntFlag('batch-size', values['batch-size'], 256, 'eval'),
      onSmallerBatch: (from: number, size: number, error: string) =>
        io.stderr.write(`tfjs-ddp: warning: the evaluation batch from sample ${from} ran out of memory (${error}); going on ${size} samples at a time\n`),
    };
    const runDir = values.runDir;
    if (runDir !== undefined && dir !== undefined) throw new DdpError('E_USAGE', 'give RUN_DIR or --model DIR, not both', "run 'tfjs-ddp eval --help' for usage");
    if (runDir !== undefined) {
      const configPath = join(runDir, 'config.json');
      if (!existsSync(configPath)) throw new DdpError('E_CONFIG', `${configPath} does not exist`, 'pass the directory of a run (it holds config.json and model/)');
      const modelDir = join(runDir, 'model');
      if (!existsSync(join(modelDir, 'model.json'))) throw new DdpError('E_CONFIG', `${join(modelDir, 'model.json')} does not exist: the run saved no model yet`, 'evaluate a finished or stopped run');
      const { config } = resolveTrainConfig({
        file: readConfigFile(configPath),
        filePath: configPath,
        flags: {
          ...(values.data !== undefined ? { data: resolveTaskModule('data', values.data) } : {}),
          ...(values.set !== undefined ? { set: values.set } : {}),
          ...(values['data-dir'] !== undefined ? { dataDir: values['data-dir'] } : {}),
          ...(values['verify-data'] !== undefined ? { verifyData: values['verify-data'] } : {}),
        },
      });
      const backend = await selectBackend(backendFlag(values.backend, io.env));
      const settings = { resize: config.resize, pool: config.pool, seed: config.seed, dataDir: config.dataDir, verifyData: config.verifyData, task: { model: config.model, data: config.data }, taskSettings: config.set };
      const r = await evaluateTask(settings, modelDir, io.env, opts);
      const report = { run_dir: runDir, model: config.model, data: config.data, backend: backend.chosen, batch_size: r.batchSize, test_count: r.count, test_acc: r.correct / r.count, test_loss: r.lossSum / r.count, ...(r.names.length > 0 ? { test_metrics: Object.fromEntries(r.names.map((n, j) => [n, (r.metrics?.[j] ?? 0) / r.count])) } : {}) };
      const own = Object.entries(report.test_metrics ?? {}).map(([n, v]) => `, ${n} ${v.toFixed(4)}`).join('');
      io.stdout.write(values.json ? `${JSON.stringify(report)}\n` : `test accuracy ${report.test_acc.toFixed(4)} on ${r.count} samples (loss ${report.test_loss.toFixed(4)}${own}, ${backend.chosen})\n`);
      return 0;
    }
    if (dir === undefined) throw new DdpError('E_USAGE', 'RUN_DIR or --model DIR is required', "run 'tfjs-ddp eval --help' for usage");
    if (!existsSync(join(dir, 'model.json'))) {
      throw new DdpError('E_CONFIG', `${join(dir, 'model.json')} does not exist`, 'pass the model/ or checkpoint/ directory of a run');
    }
    const backend = await selectBackend(backendFlag(values.backend, io.env));
    const dataDir = values['data-dir'];
    const data = await loadFashionMnist({ ...(dataDir !== undefined ? { dataDir } : {}), env: io.env, verify: values['verify-data'] !== 'false' });
    const all = Uint32Array.from({ length: data.test.count }, (_, i) => i);
    const r = await evaluateSavedModel(dir, gatherImages(data.test, all), gatherLabels(data.test, all), data.rows, data.cols, opts);
    const report = { model: dir, backend: backend.chosen, batch_size: r.batchSize, test_count: r.count, test_acc: r.correct / r.count, test_loss: r.lossSum / r.count };
    io.stdout.write(values.json ? `${JSON.stringify(report)}\n` : `test accuracy ${report.test_acc.toFixed(4)} on ${r.count} images (loss ${report.test_loss.toFixed(4)}, ${backend.chosen})\n`);
    return 0;
  },
});

