// The memory-fit search's trial steps tell memory from the task's own mistakes: a loss that throws,
// or a data module whose samples do not fit the model, stops the search with E_TASK and the task's
// message, where it used to read as "not even a micro-batch of 1 fits the memory budget" (E_MEMORY,
// advising to lower --resize). Real probe children on the wasm backend, with the e2e tests' task.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { fitMicroBatch } from './fit-micro-batch';

const fixtures = fileURLToPath(new URL('../../../../test/fixtures/user-task/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'probe-errors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The fixture's model with `extra` added to its module object. */
function model(name: string, extra: string): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    `import base from ${JSON.stringify(join(fixtures, 'model.mjs'))};\nexport default { ...base, ${extra} };\n`,
  );
  return path;
}

function search(modelPath: string, dataPath = join(fixtures, 'data.mjs')) {
  return fitMicroBatch({
    backend: 'wasm',
    resize: 96,
    pool: 'max',
    seed: 1,
    batchNorm: true,
    task: { model: modelPath, data: dataPath },
    budgetBytes: null,
    maxMicroBatch: 64,
  });
}

describe('the memory-fit search on a task that fails', () => {
  it('stops with E_TASK and the error when the loss throws', async () => {
    const p = model('loss-throws.mjs', "loss() { throw new Error('my loss is broken'); }");
    await expect(search(p)).rejects.toMatchObject({
      code: 'E_TASK',
      message: expect.stringMatching(
        /failed, not for memory: my loss is broken; try the task in one process with `tfjs-ddp check`/,
      ) as unknown,
    });
  }, 60_000);

  it("stops with the data module's E_TASK when its samples do not fit the model", async () => {
    const data = join(dir, 'data-wrong-shape.mjs');
    writeFileSync(
      data,
      'export default { load: ({ tf }) => { const s = { size: 8, batch: (i) => ({ xs: tf.zeros([i.length, 4, 4, 3]), ys: tf.zeros([i.length], "int32") }) }; return { train: s, test: null }; } };\n',
    );
    const e = (await search(join(fixtures, 'model.mjs'), data).then(
      () => null,
      (x: unknown) => x,
    )) as { code?: string; message?: string } | null;
    expect(e?.code, String(e?.message)).toBe('E_TASK');
    expect(e?.message).not.toMatch(/fits the memory budget/);
  }, 60_000);
});
