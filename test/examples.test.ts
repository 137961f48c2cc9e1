// The examples of docs/examples/ as a user runs them: each trains with 2 workers to the losses of 1
// worker for the same global batch, exports a model that plain TensorFlow.js reloads, survives a
// SIGKILLed worker and resumes exactly, ending on the undisturbed run's weights. mlp-csv trains
// with Adam and a cosine schedule, cnn-image-folder with momentum: their resumes are also the
// check that the optimizers' slots (Adam's iteration count and running β powers too: it was once
// stored as raw int32 bytes, and step 4 came out 4 % off) and the schedule travel in a checkpoint.
// cnn-image-folder runs a second time compiled with Adamax, whose tfjs 4.22 getWeights/setWeights
// throw (such a run once died at its first checkpoint).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { selectBackend } from '@tfjs-ddp/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { readJson, readJsonLines, repoRoot, runCli, tmp } from './support/spawn-cli';

interface Example {
  name: string;
  /** The test's title: the example's name, and what it changes. */
  label: string;
  /** Another optimizer for the example's model.compile() (a copy of model.mjs in the test's directory). */
  optimizer?: string;
  /**
   * A third run, with 2 workers, has rank 1 run out of memory at step 2 (TFJS_DDP_INJECT_OOM): the
   * step is replayed with half the micro-batch, and the losses still equal 1 worker's (a model
   * without BatchNorm: its gradient does not depend on how a batch is split).
   */
  oomIn2?: boolean;
  /** Flags of every run: a global batch whose per-rank shares are whole micro-batches. */
  flags: string[];
  steps: number;
  /** The model's output for `input` rows. */
  input: number[];
  output: number[];
}

const EXAMPLES: Example[] = [
  {
    name: 'mlp-csv',
    label: 'mlp-csv',
    // With a schedule, so that the resume drill also checks that it continues exactly.
    flags: ['--batch-size', '32', '--micro-batch', '16', '--lr-schedule', 'cosine', '--warmup-steps', '2'],
    steps: 6,
    input: [2, 4],
    output: [2, 3],
  },
  {
    name: 'gru-sequences',
    label: 'gru-sequences',
    oomIn2: true,
    flags: ['--batch-size', '32', '--micro-batch', '16'],
    steps: 6,
    input: [2, 12, 2],
    output: [2, 2],
  },
  {
    name: 'cnn-image-folder',
    label: 'cnn-image-folder',
    flags: ['--batch-size', '24', '--micro-batch', '12'],
    steps: 5, // 120 training images: the whole epoch
    input: [2, 16, 16, 3],
    output: [2, 3],
  },
  {
    name: 'cnn-image-folder',
    label: 'cnn-image-folder with Adamax',
    optimizer: 'tf.train.adamax(0.01)',
    flags: ['--batch-size', '24', '--micro-batch', '12'],
    steps: 5,
    input: [2, 16, 16, 3],
    output: [2, 3],
  },
];

const losses = (runDir: string) =>
  readJsonLines(join(runDir, 'metrics.jsonl'))
    .filter((m) => m['event'] === 'step')
    .map((m) => m['loss'] as number);
const checksums = (runDir: string) =>
  readJson(join(runDir, 'summary.json'))['weights_checksum_per_rank'] as string[];

/** What a plain TensorFlow.js program does with model/: read model.json and weights.bin, load. */
function plainLoader(dir: string): tf.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as {
        modelTopology: object;
        weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[];
      };
      const bin = readFileSync(join(dir, 'weights.bin'));
      return {
        modelTopology: json.modelTopology,
        weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
        weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
      };
    },
  };
}

beforeAll(async () => {
  await selectBackend('cpu');
});

describe.each(EXAMPLES)('docs/examples/$label', (ex) => {
  const dir = join(repoRoot, 'docs/examples', ex.name);
  let modelFile = join(dir, 'model.mjs');
  const run = (runDir: string, workers: number, extra: string[] = [], env: NodeJS.ProcessEnv = {}) =>
    runCli(
      [
        'train',
        '--model',
        modelFile,
        '--data',
        join(dir, 'data.mjs'),
        '--backend',
        'wasm',
        ...ex.flags,
        '--epochs',
        '1',
        '--max-steps',
        String(ex.steps),
        '--workers',
        String(workers),
        '--run-dir',
        runDir,
        ...extra,
      ],
      env,
    );
  let out: string;
  beforeAll(() => {
    out = tmp(`example-${ex.name}`);
    if (ex.optimizer !== undefined) {
      const source = readFileSync(modelFile, 'utf8');
      const changed = source.replace(/optimizer: tf\.train\.[a-z]+\([^)]*\)/, `optimizer: ${ex.optimizer}`);
      expect(changed).not.toBe(source);
      modelFile = join(out, 'model.mjs');
      writeFileSync(modelFile, changed);
    }
  });

  it('trains with 2 workers to the losses of 1 worker, and exports a model plain TensorFlow.js reloads', async () => {
    const r1 = await run(join(out, 'one'), 1);
    expect(r1.code, r1.stderr).toBe(0);
    const r2 = await run(join(out, 'two'), 2);
    expect(r2.code, r2.stderr).toBe(0);
    // The same samples in the same micro-batches (BatchNorm's statistics included); only where the
    // ranks' sums meet differs: float32 addition in another order, a few ulps at most.
    const a = losses(join(out, 'one'));
    expect(a).toHaveLength(ex.steps);
    const near = (runDir: string) =>
      losses(runDir).forEach((l, i) => expect(Math.abs(l - a[i]!) / Math.abs(a[i]!)).toBeLessThan(1e-5));
    near(join(out, 'two'));
    if (ex.oomIn2 === true) {
      const oom = join(out, 'oom');
      const r = await run(oom, 2, [], { TFJS_DDP_INJECT_OOM: '1:2' });
      expect(r.code, r.stderr).toBe(0);
      expect(readJson(join(oom, 'summary.json'))).toMatchObject({
        oom_events: 1,
        micro_batch_per_rank: [16, 8],
      });
      near(oom);
    }
    if (ex.flags.includes('--lr-schedule')) {
      // Warm-up over 2 steps, then a cosine over the epoch's remaining steps.
      const factors = readJsonLines(join(out, 'two', 'metrics.jsonl'))
        .filter((m) => m['event'] === 'step')
        .map((m) => m['lr_factor'] as number);
      expect(factors.slice(0, 3)).toEqual([0.5, 1, 1]);
      expect(factors[3]!).toBeLessThan(1);
    }
    // tfjs-ddp eval RUN_DIR scores the saved model on the task's test split as the run's end did.
    const ev = await runCli(['eval', join(out, 'two'), '--backend', 'wasm', '--json']);
    expect(ev.code, ev.stderr).toBe(0);
    const summary = readJson(join(out, 'two', 'summary.json'));
    expect(JSON.parse(ev.stdout)).toMatchObject({
      test_acc: summary['test_acc'],
      model: modelFile,
      data: join(dir, 'data.mjs'),
    });
    const model = await tfl.loadLayersModel(plainLoader(join(out, 'two', 'model')));
    expect((model.predict(tf.zeros(ex.input)) as tf.Tensor).shape).toEqual(ex.output);
  });

  // Rank replacement and resume move the flat weights, the non-trainable weights (BatchNorm's
  // statistics) and the optimizer's slots: one run has rank 1 SIGKILLed in step 2 and stops after
  // step 3, then `train --resume` finishes it; it must end bit for bit on the undisturbed run's
  // weights, with its losses.
  it("ends on the undisturbed run's weights when a worker is SIGKILLed mid-step, then stopped and resumed", async () => {
    const cut = join(out, 'cut');
    const k = await run(cut, 2, ['--max-steps', '3'], { TFJS_DDP_INJECT_KILL: '1:2' });
    expect(k.code, k.stderr).toBe(0);
    expect(readJson(join(cut, 'summary.json'))).toMatchObject({ status: 'completed', restarts: 1 });
    const resumed = await runCli(['train', '--resume', cut, '--max-steps', String(ex.steps)]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(losses(cut)).toEqual(losses(join(out, 'two')));
    const reference = checksums(join(out, 'two'));
    expect(reference).toHaveLength(2);
    expect(checksums(cut)).toEqual(reference);
  });
});
