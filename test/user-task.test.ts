// A user's own model and data, as a user brings them: two ES modules in a directory outside the
// repository (test/fixtures/user-task, copied to a temporary directory), importing nothing, building
// with ctx.tf. The model is not the seed's: a residual CNN with BatchNorm on 8×8×3 inputs and 5
// classes, compiled with sparseCategoricalCrossentropy. Trained by the real binary with 1 and 2
// worker processes; the memory-fit search probes it; and wrong modules stop the run naming the file.
// A model with dropout (fixtures/user-task/model-dropout.mjs) has its audit switched off at the
// first audit, not E_SDC.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { readJson, readJsonLines, runCli, tmp } from './support/spawn-cli';

const fixtures = fileURLToPath(new URL('./fixtures/user-task/', import.meta.url));
let dir: string;
let model: string;
let data: string;
const common = () => [
  '--model',
  model,
  '--data',
  data,
  '--backend',
  'wasm',
  '--batch-size',
  '16',
  '--micro-batch',
  '8',
  '--epochs',
  '1',
  '--max-steps',
  '4',
];
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

function stepLosses(runDir: string): number[] {
  return readJsonLines(join(runDir, 'metrics.jsonl'))
    .filter((m) => m['event'] === 'step')
    .map((m) => m['loss'] as number);
}

beforeAll(() => {
  dir = tmp('user-task');
  model = join(dir, 'model.mjs');
  data = join(dir, 'data.mjs');
  copyFileSync(join(fixtures, 'model.mjs'), model);
  copyFileSync(join(fixtures, 'data.mjs'), data);
  copyFileSync(join(fixtures, 'model-dropout.mjs'), join(dir, 'model-dropout.mjs'));
});

describe("a user's own model and data", () => {
  it('trains with 2 workers to the losses of 1 worker for the same global batch, and exports the model', async () => {
    const one = join(dir, 'run-1');
    const two = join(dir, 'run-2');
    const r1 = await runCli(['train', ...common(), '--workers', '1', '--run-dir', one]);
    expect(r1.code, r1.stderr).toBe(0);
    const r2 = await runCli(['train', ...common(), '--workers', '2', '--run-dir', two]);
    expect(r2.code, r2.stderr).toBe(0);
    // Each rank's micro-batch of 8 holds the samples the single worker's micro-batches hold, so even
    // BatchNorm's batch statistics agree; what differs is only where the two sums are added.
    const l1 = stepLosses(one);
    const l2 = stepLosses(two);
    expect(l1).toHaveLength(4);
    l2.forEach((l, i) => expect(Math.abs(l - l1[i]!) / l1[i]!).toBeLessThan(1e-6));
    // The module's own metric, by its name: per step, and per epoch on the train and test splits.
    const confidence = (runDir: string) => readJsonLines(join(runDir, 'metrics.jsonl')).filter((m) => m['event'] === 'step').map((m) => (m['metrics'] as { confidence: number }).confidence);
    const c1 = confidence(one);
    expect(c1.every((c) => c > 0.2 && c <= 1)).toBe(true);
    confidence(two).forEach((c, i) => expect(Math.abs(c - c1[i]!) / c1[i]!).toBeLessThan(1e-6));
    const [epoch] = readJsonLines(join(two, 'metrics.jsonl')).filter((m) => m['event'] === 'epoch');
    expect(epoch).toMatchObject({ train_metrics: { confidence: expect.any(Number) }, test_metrics: { confidence: expect.any(Number) } });
    // tfjs-ddp eval RUN_DIR scores the saved model as the run's end did, its own metric included.
    const ev = await runCli(['eval', two, '--backend', 'wasm', '--json']);
    expect(ev.code, ev.stderr).toBe(0);
    const scored = JSON.parse(ev.stdout) as { test_acc: number; test_metrics: { confidence: number } };
    expect(scored.test_acc).toBe(epoch!['test_acc']);
    expect(scored.test_metrics.confidence).toBeCloseTo((epoch!['test_metrics'] as { confidence: number }).confidence, 5);
    const summary = readJson(join(two, 'summary.json'));
    // conv 3·3·3·8+8, BatchNorm γ and β 16, conv 3·3·8·8+8, dense 8·5+5.
    expect(summary).toMatchObject({ status: 'completed', workers: 2, trainable_params: 869, steps: 4 });
    expect(typeof summary['test_acc']).toBe('number');
    const start = readJsonLines(join(two, 'metrics.jsonl'))[0]!;
    for (const w of start['workers'] as { task: object }[]) {
      expect(w.task).toEqual({ model, model_sha256: sha256(model), data, data_sha256: sha256(data) });
    }
    expect(readJson(join(two, 'config.json'))).toMatchObject({ model, data, set: {} });
    for (const f of ['model.json', 'weights.bin']) expect(existsSync(join(two, 'model', f))).toBe(true);
  });

  it("starts every rank from rank 0's weights when the model's initializers are not seeded", async () => {
    const unseeded = join(dir, 'unseeded.mjs');
    writeFileSync(
      unseeded,
      readFileSync(model, 'utf8').replace(
        /kernelInitializer: init\(\d\)/g,
        "kernelInitializer: 'glorotUniform'",
      ),
    );
    expect(readFileSync(unseeded, 'utf8')).not.toContain('init(');
    const run = join(dir, 'run-unseeded');
    const r = await runCli([
      'train',
      ...common().map((a) => (a === model ? unseeded : a)),
      '--workers',
      '2',
      '--run-dir',
      run,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const log = readJsonLines(join(run, 'train.log'));
    expect(
      log.find(
        (l) =>
          l['msg'] === "initial weights differed from rank 0 (unseeded initializers?): replaced by rank 0's",
      ),
    ).toMatchObject({ ranks: [1] });
    // Every step checks that the ranks' weights agree; the run completing is that check passing.
    expect(readJson(join(run, 'summary.json'))).toMatchObject({ status: 'completed', workers: 2, steps: 4 });
  });

  it("passes --set to the modules' settings, and the memory-fit search probes the user's model", async () => {
    const r = await runCli([
      'find-batch',
      '--model',
      model,
      '--data',
      data,
      '--set',
      'train=48',
      '--backend',
      'wasm',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { micro_batch: number; trials: { ran: boolean }[] };
    expect(report.trials.length).toBeGreaterThanOrEqual(2);
    expect(report.micro_batch).toBeGreaterThan(0);
    const run = join(dir, 'run-set');
    const t = await runCli(['train', ...common(), '--workers', '1', '--set', 'train=48', '--run-dir', run]);
    expect(t.code, t.stderr).toBe(0);
    // 48 samples at batch 16: 3 steps per epoch (the data module read settings.train).
    expect(JSON.parse(t.stdout.split('\n')[0]!)).toMatchObject({
      type: 'start',
      steps_per_epoch: 3,
      train_count: 48,
    });
  });

  it('tfjs-ddp check tries the task in one process, and names a first micro-batch of NaN inputs', async () => {
    const r = await runCli(['check', '--model', model, '--data', data, '--backend', 'wasm', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const c = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(c).toMatchObject({
      model,
      model_sha256: sha256(model),
      trainable_params: 869,
      non_trainable_params: 16,
      input_shape: [null, 8, 8, 3],
      output_shape: [null, 5],
      train_count: 128,
      test_count: 40,
    });
    expect(c['batch']).toEqual({
      samples: 8,
      xs: { shape: [8, 8, 8, 3], dtype: 'float32' },
      ys: { shape: [8], dtype: 'int32' },
    });
    expect(Number.isFinite(c['loss'])).toBe(true);
    const nan = join(dir, 'nan-data.mjs');
    writeFileSync(
      nan,
      readFileSync(data, 'utf8').replace('xs: tf.tensor4d(x,', 'xs: tf.tensor4d(x.fill(NaN),'),
    );
    expect(readFileSync(nan, 'utf8')).toContain('x.fill(NaN)');
    const bad = await runCli(['check', '--model', model, '--data', nan, '--backend', 'wasm']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /E_TASK: the first micro-batch \(samples 0–7\) gives a (loss of NaN|non-finite gradient); check the data/,
    );
  });

  it('refuses a module that is not there before any work, and stops every rank when create() throws', async () => {
    const missing = await runCli([
      'train',
      '--model',
      join(dir, 'nope.mjs'),
      '--data',
      data,
      '--backend',
      'wasm',
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(
      `E_TASK: model module ${join(dir, 'nope.mjs')} not found (looked for the file ${join(dir, 'nope.mjs')})`,
    );
    const bad = join(dir, 'bad-model.mjs');
    writeFileSync(
      bad,
      "export default { create({ tf }) { return tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [4], activation: 'nope' })] }); } };\n",
    );
    const t0 = performance.now();
    const r = await runCli([
      'train',
      '--model',
      bad,
      '--data',
      data,
      '--backend',
      'wasm',
      '--workers',
      '2',
      '--micro-batch',
      '8',
      '--run-dir',
      join(dir, 'run-bad'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `E_TASK: model module ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: create\\(ctx\\) threw on rank \\d \\(.+\\): Unknown activation: nope`,
      ),
    );
    expect(performance.now() - t0).toBeLessThan(60_000);
  });

  it('with dropout in the model, the first audit finds the step not repeatable and turns the audit off instead of failing with E_SDC', async () => {
    const runDir = join(dir, 'run-dropout');
    const args = common().map((a) => (a === model ? join(dir, 'model-dropout.mjs') : a));
    const r = await runCli(['train', ...args, '--workers', '2', '--audit-every', '1', '--run-dir', runDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/E_SDC/);
    const warning = /audit off: the training step is not repeatable on any rank \(dropout or another random op in training mode\?\): at step 1 each of the 2 ranks recomputed its own first micro-batch differently .*; --audit-every 0 silences this/;
    expect(r.stderr.split('\n').filter((l) => warning.test(l))).toHaveLength(1);
    const metrics = readJsonLines(join(runDir, 'metrics.jsonl'));
    // One audit, the first step's, which turned the audit off; the 3 steps after it are not audited.
    expect(metrics.filter((m) => m['event'] === 'audit')).toEqual([expect.objectContaining({ step: 1, disabled: true, reason: 'not repeatable', self_checks: [expect.objectContaining({ rank: 0 }), expect.objectContaining({ rank: 1 })] })]);
    expect(metrics.filter((m) => m['event'] === 'step')).toHaveLength(4);
    expect(metrics.some((m) => m['event'] === 'sdc')).toBe(false);
    const warned = readJsonLines(join(runDir, 'train.log')).filter((l) => typeof l['msg'] === 'string' && (l['msg'] as string).startsWith('audit off'));
    expect(warned).toEqual([expect.objectContaining({ level: 40, step: 1, message: expect.stringMatching(warning) })]);
  });
});
