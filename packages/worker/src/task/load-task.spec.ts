// Finding and importing a task's modules: the built-ins, a user's file outside the repository, and
// each way a module can be wrong, with the message that says which module and what to do.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDdpError } from '@tfjs-ddp/core';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDataModule, loadModelModule, resolveTaskModule, SEED_TASK } from './load-task';

const dir = mkdtempSync(join(tmpdir(), 'tfjs-ddp-task-spec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function taskError(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(isDdpError(e, 'E_TASK'), String(e)).toBe(true);
  return e as Error;
}

describe('task modules', () => {
  it('imports the built-in seed task', async () => {
    const m = await loadModelModule(SEED_TASK.model);
    const d = await loadDataModule(SEED_TASK.data);
    expect(typeof m.module.create).toBe('function');
    expect(typeof d.module.load).toBe('function');
    expect([m.sha256, d.sha256]).toEqual([null, null]);
  });

  it("imports a user's module from a directory outside the repository, with the SHA-256 of its file", async () => {
    const path = file('m.mjs', 'export default { create(ctx) { return ctx.tf.sequential(); } };\n');
    const m = await loadModelModule(resolveTaskModule('model', 'm.mjs', dir));
    expect(m.where).toBe(path);
    expect(m.sha256).toBe(createHash('sha256').update(readFileSync(path)).digest('hex'));
  });

  it('names the path it looked for when the file does not exist', () => {
    let e: unknown;
    try {
      resolveTaskModule('data', './nope.mjs', dir);
    } catch (x) {
      e = x;
    }
    expect(isDdpError(e, 'E_TASK')).toBe(true);
    expect(String(e)).toContain(
      `data module ./nope.mjs not found (looked for the file ${join(dir, 'nope.mjs')})`,
    );
    expect(() => resolveTaskModule('model', 'builtin:resnet')).toThrow(
      /builtin:resnet is not a built-in model module \(there is builtin:densenet\)/,
    );
  });

  it('says what is missing from a default export', async () => {
    expect(
      String(await taskError(loadModelModule(file('none.mjs', 'export const create = () => null;\n')))),
    ).toMatch(/model module .*none\.mjs has no default export; end it with export default defineModel/);
    expect(
      String(await taskError(loadModelModule(file('nocreate.mjs', 'export default { build() {} };\n')))),
    ).toMatch(/its default export has no create\(ctx\) function/);
    expect(
      String(await taskError(loadDataModule(file('noload.mjs', 'export default { prepare() {} };\n')))),
    ).toMatch(/data module .*noload\.mjs: its default export has no load\(ctx\) function/);
    expect(
      String(
        await taskError(loadModelModule(file('badloss.mjs', 'export default { create() {}, loss: 3 };\n'))),
      ),
    ).toMatch(/loss is a number, not a function/);
  });

  it('keeps the stack of a module that fails to load', async () => {
    const e = await taskError(loadModelModule(file('throws.mjs', "throw new Error('boom at import');\n")));
    expect(e.message).toMatch(/model module .*throws\.mjs failed to load: boom at import/);
    expect(String((e.cause as Error).stack)).toContain('throws.mjs');
  });
});
