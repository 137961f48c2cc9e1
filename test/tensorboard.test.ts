// The TensorBoard event files a run writes (<run-dir>/tensorboard/), read back by TensorBoard's own
// Python reader (EventAccumulator): the scalars it finds are the run's metrics, at their steps.
// `.ci/run` installs tensorboard into a venv and names its python in TFJS_DDP_TENSORBOARD_PYTHON;
// without it the test is skipped, saying so.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { describe, expect, it } from 'vitest';
import { readJsonLines, runCli, tmp } from './support/spawn-cli';

const python = process.env['TFJS_DDP_TENSORBOARD_PYTHON'];
if (python === undefined) console.warn('TFJS_DDP_TENSORBOARD_PYTHON is not set (.ci/run sets it): skipping the TensorBoard reader test');

const READER = `
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1], size_guidance={'scalars': 0})
acc.Reload()
print(json.dumps({t: [[e.step, e.value] for e in acc.Scalars(t)] for t in acc.Tags()['scalars']}))
`;

describe.runIf(python !== undefined)("TensorBoard's reader", () => {
  it("reads the run's loss, accuracy and test accuracy at their steps, as float32", async () => {
    const data = tmp('tb-data');
    await writeSyntheticFashionMnist(data, { train: 48, test: 16, seed: 4 });
    const runDir = join(tmp('tb'), 'r');
    const r = await runCli(['train', '--data-dir', data, '--verify-data', 'false', '--backend', 'wasm', '--resize', '32', '--workers', '1', '--batch-size', '16', '--micro-batch', '8', '--epochs', '1', '--run-dir', runDir]);
    expect(r.code, r.stderr).toBe(0);
    const read = spawnSync(python!, ['-c', READER, join(runDir, 'tensorboard')], { encoding: 'utf8', timeout: 120_000 });
    expect(read.status, read.stderr).toBe(0);
    const scalars = JSON.parse(read.stdout) as Record<string, [number, number][]>;
    const metrics = readJsonLines(join(runDir, 'metrics.jsonl'));
    const steps = metrics.filter((m) => m['event'] === 'step');
    expect(steps).toHaveLength(3);
    // simple_value is a float32: what TensorBoard shows is the float32 nearest to each metric.
    expect(scalars['train/loss']).toEqual(steps.map((s) => [s['step'], Math.fround(s['loss'] as number)]));
    expect(scalars['train/acc']).toEqual(steps.map((s) => [s['step'], Math.fround(s['acc'] as number)]));
    expect(scalars['train/lr']).toEqual(steps.map((s) => [s['step'], Math.fround(0.1)]));
    const epoch = metrics.find((m) => m['event'] === 'epoch')!;
    expect(scalars['epoch/test_acc']).toEqual([[3, Math.fround(epoch['test_acc'] as number)]]);
    expect(scalars['micro_batch/rank_0']).toEqual([[0, 8]]);
  });
});
