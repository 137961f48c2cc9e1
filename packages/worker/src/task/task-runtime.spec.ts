// A task made ready to train: the loss from the module or from compile(), summed per sample; the
// seed's built-in task scoring exactly as the seed always did; and a user's mistakes (no loss,
// create throws, batch() of the wrong size or shape, a loss already averaged) stopped with E_TASK
// naming the module, the rank and the samples.
import * as tf from '@tensorflow/tfjs-core';
import { isDdpError } from '@tfjs-ddp/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend/select-backend';
import { correctCount, summedCrossEntropy } from '../train/score';
import { loadModelModule, type LoadedModule } from './load-task';
import { taskContext } from './open-task';
import type { DataModule, ModelModule, TaskContext } from './task-contract';
import { buildTask } from './task-runtime';

const ctx: TaskContext = taskContext(
  { resize: 32, pool: 'max', seed: 3, batchNorm: true, dataDir: null, verifyData: false },
  1,
  {},
);
const mod = <T>(module: T, where: string): LoadedModule<T> => ({ module, where, sha256: null });

/** 3 features → 4 classes, softmax output, 6 rows of data. */
const features = [0.1, 0.2, 0.3, 1, 0, 1, 0.5, 0.5, 0.5, 2, 1, 0, 0, 0, 1, 1, 1, 1];
const labels = [0, 3, 1, 2, 2, 0];
const data = (xsShape = [3]): DataModule => ({
  load: ({ tf: t }) => ({
    train: {
      size: 6,
      batch: (idx) => ({
        xs: t.tensor(
          Array.from(idx).flatMap((i) => features.slice(3 * i, 3 * i + 3)),
          [idx.length, ...xsShape],
        ),
        ys: t.tensor1d(
          Array.from(idx, (i) => labels[i]!),
          'int32',
        ),
      }),
    },
  }),
});
const mlp = (compile?: object): ModelModule => ({
  create: ({ tf: t, seed }) => {
    const m = t.sequential({
      layers: [
        t.layers.dense({
          inputShape: [3],
          units: 4,
          activation: 'softmax',
          kernelInitializer: t.initializers.glorotUniform({ seed }),
        }),
      ],
    });
    if (compile !== undefined) m.compile({ optimizer: 'sgd', ...compile } as never);
    return m;
  },
});

async function taskError(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(isDdpError(e, 'E_TASK'), String(e)).toBe(true);
  return String(e);
}

describe('task runtime', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it("sums the compiled loss per sample, and counts a softmax model's correct top-1 predictions", async () => {
    const task = await buildTask(
      mod(mlp({ loss: 'sparseCategoricalCrossentropy' }), 'mlp.mjs'),
      mod(data(), 'd.mjs'),
      ctx,
    );
    const b = await task.batch(task.train, Uint32Array.from([0, 1, 2, 3, 4, 5]));
    const p = task.model.predict(b.xs) as tf.Tensor2D;
    const probs = (await p.array()) as number[][];
    const want = labels.reduce((s, l, i) => s - Math.log(probs[i]![l]!), 0);
    const right = labels.filter((l, i) => probs[i]!.indexOf(Math.max(...probs[i]!)) === l).length;
    expect((await task.lossSum(b.ys, p).data())[0]).toBeCloseTo(want, 4);
    expect((await task.correct(b.ys, p).data())[0]).toBe(right);
    expect(task.test).toBeNull();
  });

  it("scores the built-in DenseNet exactly as the seed's summed cross-entropy and correct count", async () => {
    const m = await loadModelModule('builtin:densenet');
    const task = await buildTask(m, mod(data(), 'd.mjs'), ctx);
    const logits = tf.randomNormal([5, 10], 0, 3, 'float32', 7) as tf.Tensor2D;
    const y = tf.tensor1d([3, 1, 4, 1, 5], 'int32');
    expect(Array.from(await task.lossSum(y, logits).data())).toEqual(
      Array.from(await summedCrossEntropy(logits, y).data()),
    );
    expect(Array.from(await task.correct(y, logits).data())).toEqual(
      Array.from(await correctCount(logits, y).data()),
    );
  });

  it('refuses a model that is not compiled and gives no loss, saying how to give one', async () => {
    expect(await taskError(buildTask(mod(mlp(), '/u/mlp.mjs'), mod(data(), 'd.mjs'), ctx))).toMatch(
      /model module \/u\/mlp\.mjs: the model has no loss tfjs-ddp can use \(not compiled\); call model\.compile/,
    );
  });

  it("wraps what the user's create() and load() throw, naming the module and the rank, with the cause", async () => {
    const boom = new Error('no such layer');
    const msg = await taskError(
      buildTask(
        mod(
          {
            create: () => {
              throw boom;
            },
          },
          '/u/m.mjs',
        ),
        mod(data(), 'd.mjs'),
        ctx,
      ),
    );
    expect(msg).toMatch(/model module \/u\/m\.mjs: create\(ctx\) threw on rank 1 \(.+\): no such layer/);
    expect(
      await taskError(
        buildTask(
          mod(mlp({ loss: 'meanSquaredError' }), 'm'),
          mod({ load: () => ({}) } as unknown as DataModule, '/u/d.mjs'),
          ctx,
        ),
      ),
    ).toMatch(/data module \/u\/d\.mjs: load\(ctx\) returned no valid train split/);
  });

  it('checks every batch against the indices and the model input, naming the samples', async () => {
    const short: DataModule = {
      load: ({ tf: t }) => ({ train: { size: 6, batch: () => ({ xs: t.zeros([2, 3]), ys: t.zeros([2]) }) } }),
    };
    const t1 = await buildTask(mod(mlp({ loss: 'meanSquaredError' }), 'm'), mod(short, '/u/d.mjs'), ctx);
    expect(await taskError(t1.batch(t1.train, Uint32Array.from([4, 5, 0])))).toMatch(
      /data module \/u\/d\.mjs: batch\(\) on rank 1 .* for samples 4, 5, 0: xs has shape \[2,3\] and ys \[2\] for 3 indices/,
    );
    const t2 = await buildTask(
      mod(mlp({ loss: 'meanSquaredError' }), 'm'),
      mod(data([3, 1]), '/u/d.mjs'),
      ctx,
    );
    expect(await taskError(t2.batch(t2.train, Uint32Array.from([0])))).toMatch(
      /xs has shape \[1,3,1\], the model's input is \[n,3\]/,
    );
  });

  it('refuses a loss that returns one value for the batch instead of one per sample', async () => {
    const meanLoss: ModelModule = {
      ...mlp(),
      loss: (y, p) => tf.mean(tf.square(tf.sub(p, tf.oneHot(tf.cast(y, 'int32'), 4)))),
    };
    const task = await buildTask(mod(meanLoss, '/u/m.mjs'), mod(data(), 'd.mjs'), ctx);
    const b = await task.batch(task.train, Uint32Array.from([0, 1]));
    expect(() => task.lossSum(b.ys, task.model.predict(b.xs) as tf.Tensor)).toThrow(
      /loss\(yTrue, yPred\) returned shape \[\] for 2 samples; return one value per sample/,
    );
  });
  it("sums the module's own metrics per sample, by name, and refuses a bad name or a batch-mean metric", async () => {
    const withMetrics: ModelModule = {
      ...mlp({ loss: 'sparseCategoricalCrossentropy' }),
      metrics: { top_prob: (_y, p, t) => t.max(p, -1), one: (_y, p, t) => t.onesLike(t.max(p, -1)) },
    };
    const task = await buildTask(mod(withMetrics, '/u/m.mjs'), mod(data(), 'd.mjs'), ctx);
    expect(task.metricNames).toEqual(['top_prob', 'one']);
    const b = await task.batch(task.train, Uint32Array.from([0, 1, 2]));
    const p = task.model.predict(b.xs) as tf.Tensor2D;
    const probs = (await p.array()) as number[][];
    const [top, one] = await Promise.all(task.metricSums(b.ys, p).map(async (m) => (await m.data())[0]!));
    expect(top).toBeCloseTo(probs.reduce((s, r) => s + Math.max(...r), 0), 5);
    expect(one).toBe(3);
    const bad = (metrics: object) => buildTask(mod({ ...mlp({ loss: 'meanSquaredError' }), metrics } as ModelModule, '/u/m.mjs'), mod(data(), 'd.mjs'), ctx);
    expect(await taskError(bad({ acc: () => null }))).toMatch(/metric name "acc" is reserved/);
    expect(await taskError(bad({ 'a b': () => null }))).toMatch(/metric name "a b" is not allowed/);
    expect(await taskError(bad({ m: 3 }))).toMatch(/metrics\.m is number 3, not a function/);
    const mean = await buildTask(mod({ ...mlp({ loss: 'meanSquaredError' }), metrics: { m: (_y: tf.Tensor, p: tf.Tensor) => tf.mean(p) } }, '/u/m.mjs'), mod(data(), 'd.mjs'), ctx);
    expect(() => mean.metricSums(b.ys, p)).toThrow(/metrics\.m\(yTrue, yPred\) returned shape \[\] for 3 samples/);
  });

  it("trains with the module's optimizer over the compiled one, and refuses one that is not a tf.Optimizer", async () => {
    const adam: ModelModule = { ...mlp({ loss: 'sparseCategoricalCrossentropy' }), optimizer: ({ tf: t }) => t.train.adam(0.01) };
    const task = await buildTask(mod(adam, '/u/m.mjs'), mod(data(), 'd.mjs'), ctx);
    expect(task.optimizer?.getClassName()).toBe('Adam');
    const compiled = await buildTask(mod(mlp({ loss: 'sparseCategoricalCrossentropy' }), 'm'), mod(data(), 'd.mjs'), ctx);
    expect(compiled.optimizer?.getClassName()).toBe('SGD');
    const wrong: ModelModule = { ...mlp({ loss: 'meanSquaredError' }), optimizer: () => 'adam' as unknown as tf.Optimizer };
    expect(await taskError(buildTask(mod(wrong, '/u/m.mjs'), mod(data(), 'd.mjs'), ctx))).toMatch(
      /model module \/u\/m\.mjs: optimizer\(ctx\) threw on rank 1 .*: model module \/u\/m\.mjs: optimizer\(ctx\) returned string adam, not a tf\.Optimizer|optimizer\(ctx\) returned string adam, not a tf\.Optimizer/,
    );
  });
});
