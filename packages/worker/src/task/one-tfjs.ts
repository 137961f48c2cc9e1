// One TensorFlow.js per process: tfjs-ddp trains with the @tensorflow/tfjs-core and tfjs-layers it
// resolves (ctx.tf), and a task module that imports its own copy from elsewhere would build tensors
// and layers in an engine that tfjs-ddp never runs, failing far from the cause. In the published
// package both are peer dependencies, so a user's project normally holds exactly one copy.
// load-task.ts checks a user's module with this before importing it.
import { readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { DdpError } from '@tfjs-ddp/core';

/** The packages whose instance must be shared (their registries and engine are global state). */
export const SHARED_TFJS = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-layers'] as const;

export interface ResolvedPackage {
  /** The package's folder, symlinks resolved. */
  dir: string;
  version: string;
}

/** Where `name` resolves from the file `from` (a path or file: URL), or null when it does not. */
export function resolvePackageFrom(name: string, from: string): ResolvedPackage | null {
  try {
    const manifest = realpathSync(createRequire(from).resolve(`${name}/package.json`));
    const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version?: unknown };
    return { dir: dirname(manifest), version: typeof version === 'string' ? version : '?' };
  } catch {
    return null;
  }
}

/**
 * Refuses a user's task module that would load another copy of tfjs-core or tfjs-layers than
 * tfjs-ddp's (a module that imports none, or finds none, is fine: it builds with ctx.tf).
 * @throws DdpError E_TASK naming both copies and how to keep one
 */
export function checkOneTfjs(
  kind: 'model' | 'data',
  modulePath: string,
  ours: string = import.meta.url,
): void {
  for (const name of SHARED_TFJS) {
    const theirs = resolvePackageFrom(name, modulePath);
    const mine = resolvePackageFrom(name, ours);
    if (theirs === null || mine === null || theirs.dir === mine.dir) continue;
    throw new DdpError(
      'E_TASK',
      `${kind} module ${modulePath} resolves ${name} ${theirs.version} at ${theirs.dir}, but tfjs-ddp trains with ${mine.version} at ${mine.dir}: two copies of TensorFlow.js do not share tensors, layers or backends`,
      `keep one copy: install ${name}@${mine.version} in the project that holds the module (tfjs-ddp takes it as a peer dependency; \`npm ls ${name}\` lists the copies), or build with ctx.tf and import no TensorFlow.js in the module`,
    );
  }
}
