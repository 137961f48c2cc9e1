// Finds and imports a task's two modules: a built-in name (`builtin:densenet`, the seed's) or the
// path of an ES module file, checks the shape of each default export and hashes each file, so that
// ranks on other hosts can be checked against rank 0. Called by every worker process, the memory
// probe child and the in-process worker; the errors name the module and what to do.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DdpError } from '@tfjs-ddp/core';
import { checkOneTfjs } from './one-tfjs';
import type { DataModule, ModelModule } from './task-contract';

/** Which modules make the task, as they travel in the worker settings. */
export interface TaskModules {
  /** `builtin:NAME` or an absolute file path. */
  model: string;
  data: string;
}

/** The seed's task: the d2l DenseNet on Fashion-MNIST, the default. */
export const SEED_TASK: TaskModules = { model: 'builtin:densenet', data: 'builtin:fashion-mnist' };

// Static imports of the built-ins, so that a bundler sees them (no path computed at run time).
const BUILTIN_MODELS: Record<string, () => Promise<{ default: unknown }>> = {
  'builtin:densenet': () => import('./builtin/densenet-model'),
};
const BUILTIN_DATA: Record<string, () => Promise<{ default: unknown }>> = {
  'builtin:fashion-mnist': () => import('./builtin/fashion-mnist-data'),
};

export interface LoadedModule<T> {
  module: T;
  /** The specifier as resolved: `builtin:NAME` or an absolute path. */
  where: string;
  /** SHA-256 of the file (hex); null for a built-in, which the tfjs-ddp version identifies. */
  sha256: string | null;
}

/**
 * A module specifier as the user gave it (relative to `cwd`) → what travels to the workers.
 * @throws DdpError E_TASK when the file does not exist, or resolves another copy of TensorFlow.js.
 */
export function resolveTaskModule(kind: 'model' | 'data', spec: string, cwd = process.cwd()): string {
  const builtins = kind === 'model' ? BUILTIN_MODELS : BUILTIN_DATA;
  if (spec.startsWith('builtin:')) {
    if (spec in builtins) return spec;
    throw new DdpError(
      'E_TASK',
      `--${kind} ${spec} is not a built-in ${kind} module (there is ${Object.keys(builtins).join(', ')})`,
      `pass one of those, or the path of your own ${kind} module`,
    );
  }
  const path = isAbsolute(spec) ? spec : resolve(cwd, spec);
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new DdpError(
      'E_TASK',
      `${kind} module ${spec} not found (looked for the file ${path})`,
      `pass the path of an ES module file (.js or .mjs) whose default export is define${kind === 'model' ? 'Model' : 'Data'}({…})`,
    );
  }
  checkOneTfjs(kind, path);
  return path;
}

/** Imports a model module and checks its default export. @throws DdpError E_TASK naming the module. */
export async function loadModelModule(where: string): Promise<LoadedModule<ModelModule>> {
  const loaded = await importModule('model', where, BUILTIN_MODELS);
  const m = loaded.module as Partial<ModelModule> | null;
  if (m === null || typeof m !== 'object' || typeof m.create !== 'function') {
    throw new DdpError(
      'E_TASK',
      `model module ${where}: its default export has no create(ctx) function`,
      'export default defineModel({ create(ctx) { … return model; } }) (docs/your-model.md)',
    );
  }
  if (m.loss !== undefined && typeof m.loss !== 'function') {
    throw new DdpError(
      'E_TASK',
      `model module ${where}: loss is a ${typeof m.loss}, not a function`,
      'give loss(yTrue, yPred) returning one value per sample, or leave it out to use the compiled loss',
    );
  }
  return { ...loaded, module: m as ModelModule };
}

/** Imports a data module and checks its default export. @throws DdpError E_TASK naming the module. */
export async function loadDataModule(where: string): Promise<LoadedModule<DataModule>> {
  const loaded = await importModule('data', where, BUILTIN_DATA);
  const m = loaded.module as Partial<DataModule> | null;
  if (m === null || typeof m !== 'object' || typeof m.load !== 'function') {
    throw new DdpError(
      'E_TASK',
      `data module ${where}: its default export has no load(ctx) function`,
      'export default defineData({ load(ctx) { … return { train, test }; } }) (docs/your-model.md)',
    );
  }
  if (m.prepare !== undefined && typeof m.prepare !== 'function') {
    throw new DdpError(
      'E_TASK',
      `data module ${where}: prepare is a ${typeof m.prepare}, not a function`,
      'give prepare(ctx), or leave it out',
    );
  }
  return { ...loaded, module: m as DataModule };
}

async function importModule(
  kind: 'model' | 'data',
  where: string,
  builtins: Record<string, () => Promise<{ default: unknown }>>,
): Promise<LoadedModule<unknown>> {
  const builtin = builtins[where];
  if (builtin !== undefined) return { module: (await builtin()).default, where, sha256: null };
  const path = resolveTaskModule(kind, where);
  let ns: { default?: unknown };
  try {
    ns = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new DdpError(
      'E_TASK',
      `${kind} module ${path} failed to load: ${why}`,
      'fix the module (node --check FILE shows where a syntax error is); it must be an ES module (.mjs, or .js in a package with "type": "module")',
      { cause: e },
    );
  }
  if (ns.default === undefined) {
    throw new DdpError(
      'E_TASK',
      `${kind} module ${path} has no default export`,
      `end it with export default define${kind === 'model' ? 'Model' : 'Data'}({ … })`,
    );
  }
  return {
    module: ns.default,
    where: path,
    sha256: createHash('sha256').update(readFileSync(path)).digest('hex'),
  };
}
