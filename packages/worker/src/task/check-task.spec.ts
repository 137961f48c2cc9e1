// `tfjs-ddp check`'s verdicts on a task whose step cannot train: what the model, the loss or tfjs
// throw on the task's tensors is the task's E_TASK (it was reported as "unexpected error (a bug)"
// with a stack), and class ids past the model's last unit, which tfjs' sparse cross-entropy scores
// as a loss of 0, are named before the step. The e2e tests' task on wasm.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend/select-backend';
import { checkTask } from './check-task';

const fixtures = fileURLToPath(new URL('../../../../test/fixtures/user-task/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'check-task-'));
beforeAll(() => selectBackend('wasm'), 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
}

const check = (model: string, data: string) =>
  checkTask(
    {
      lr: 0.1,
      momentum: 0,
      resize: 96,
      pool: 'max',
      seed: 1,
      batchNorm: true,
      dataDir: null,
      verifyData: false,
      task: { model, data },
    },
    8,
    {},
  );

/** The fixture's data (8×8×3 images, class ids 0–4) with its labels mapped by `ys`. */
function data(name: string, ys: string): string {
  return file(
    name,
    `import base from ${JSON.stringify(join(fixtures, 'data.mjs'))};\n` +
      'export default { load(ctx) { const { tf } = ctx; const s = base.load(ctx).train;\n' +
      `  return { train: { size: s.size, batch(i) { const b = s.batch(i); return { xs: b.xs, ys: ${ys} }; } }, test: null }; } };\n`,
  );
}

describe('tfjs-ddp check on a task that cannot train', () => {
  it('names class ids past the last output unit', async () => {
    const bad = data('ids-7.mjs', "tf.add(b.ys, tf.scalar(3, 'int32'))");
    await expect(check(join(fixtures, 'model.mjs'), bad)).rejects.toMatchObject({
      code: 'E_TASK',
      message: expect.stringContaining(
        'range over 3–7, but the model has 5 output units (ids 0–4)',
      ) as unknown,
    });
  }, 60_000);

  it("reports what tfjs throws on the task's tensors as E_TASK, with the shapes", async () => {
    // One-hot labels of 3 columns against 5 output units: the loss cannot broadcast them.
    const bad = data('one-hot-3.mjs', "tf.oneHot(tf.mod(b.ys, tf.scalar(3, 'int32')), 3).toFloat()");
    const model = file(
      'model.mjs',
      `import base from ${JSON.stringify(join(fixtures, 'model.mjs'))};\nlet tf;\n` +
        'export default { ...base, create(ctx) { tf = ctx.tf; return base.create(ctx); }, loss: (y, p) => tf.metrics.categoricalCrossentropy(y, p) };\n',
    );
    await expect(check(model, bad)).rejects.toMatchObject({
      code: 'E_TASK',
      message: expect.stringMatching(
        /^E_TASK: the first training step \(samples 0–7, xs \[8,8,8,3\], ys \[8,3\]\) failed: Operands could not be broadcast together with shapes 8,3 and 8,5\.?; check the model's output/,
      ) as unknown,
    });
  }, 60_000);

  it('still passes a task that trains', async () => {
    const r = await check(join(fixtures, 'model.mjs'), join(fixtures, 'data.mjs'));
    expect(r.batch.samples).toBe(8);
    expect(Number.isFinite(r.loss)).toBe(true);
  }, 60_000);
});
