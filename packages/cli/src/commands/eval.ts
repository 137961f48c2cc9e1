// `tfjs-ddp eval --model DIR`: test accuracy of a saved model (model.json + weights.bin, e.g. a
// run's model/ or checkpoint/) on all 10,000 Fashion-MNIST test images, each counted once.
import { DdpError } from '@tfjs-ddp/core';
import { gatherImages, gatherLabels, loadFashionMnist } from '@tfjs-ddp/data';
import { evaluateSavedModel, selectBackend, BACKEND_CHOICES } from '@tfjs-ddp/worker';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { defineCommand } from '../command';

export const evalCommand = defineCommand({
  name: 'eval',
  summary: 'Report the test accuracy of a saved model',
  description: 'Loads a model saved by `tfjs-ddp train` (its run directory\'s model/ or checkpoint/) and evaluates it on\nthe whole Fashion-MNIST test set.',
  options: {
    model: { type: 'string', valueName: 'DIR', description: 'directory with model.json and weights.bin' },
    backend: { type: 'string', valueName: 'NAME', description: 'backend', choices: BACKEND_CHOICES, default: 'auto' },
    'data-dir': { type: 'string', valueName: 'DIR', description: 'Fashion-MNIST directory (default: as for train)' },
    'verify-data': { type: 'string', valueName: 'true|false', description: 'check the dataset SHA-256 (default true)', choices: ['true', 'false'], default: 'true' },
    json: { type: 'boolean', description: 'print one JSON object' },
  },
  async run(values, io) {
    const dir = values.model;
    if (dir === undefined) throw new DdpError('E_USAGE', '--model DIR is required', "run 'tfjs-ddp eval --help' for usage");
    if (!existsSync(join(dir, 'model.json'))) {
      throw new DdpError('E_CONFIG', `${join(dir, 'model.json')} does not exist`, 'pass the model/ or checkpoint/ directory of a run');
    }
    const backend = await selectBackend(values.backend);
    const dataDir = values['data-dir'];
    const data = await loadFashionMnist({ ...(dataDir !== undefined ? { dataDir } : {}), env: io.env, verify: values['verify-data'] === 'true' });
    const all = Uint32Array.from({ length: data.test.count }, (_, i) => i);
    const r = await evaluateSavedModel(dir, gatherImages(data.test, all), gatherLabels(data.test, all), data.rows, data.cols);
    const report = { model: dir, backend: backend.chosen, test_count: r.count, test_acc: r.correct / r.count, test_loss: r.lossSum / r.count };
    io.stdout.write(values.json ? `${JSON.stringify(report)}\n` : `test accuracy ${report.test_acc.toFixed(4)} on ${r.count} images (loss ${report.test_loss.toFixed(4)}, ${backend.chosen})\n`);
    return 0;
  },
});
