// The node_modules of the GPU check's app (pack.mjs): the packages the built bundle imports and their
// dependencies, as installed in the repository, copied without what Node never loads on linux-x64.
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';

/**
 * What of a production package is left out: other platforms' native builds, type declarations,
 * source maps, sources of compiled code, and tfjs' browser bundles (Node loads dist/tf-*.node.js).
 * `rel` is the path inside node_modules, '/'-separated.
 */
function keep(rel) {
  const parts = rel.split('/');
  const name = parts[0].startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  const inner = parts.slice(name.split('/').length);
  const file = parts[parts.length - 1];
  if (name.startsWith('@types/') || name === '@webgpu/types') return false;
  if (/\.(map|d\.ts|d\.mts|d\.cts|md|markdown)$/i.test(file) && !/^licen[cs]e/i.test(file)) return false;
  if (name === 'webgpu' && inner[0] === 'dist' && inner[1] !== undefined) return inner[1] === 'linux-x64';
  if (name === 'zeromq') {
    if (inner[0] === 'src' || inner[0] === 'script') return false;
    if (inner[0] === 'build' && inner[1] !== undefined && inner[1] !== 'manifest.json') {
      if (inner[1] !== 'linux' || (inner[2] !== undefined && inner[2] !== 'x64')) return false;
      // cmake-ts's loader tries the glibc-*-Release builds in turn (glibc-115 needs glibc 2.38, so on
      // Debian 12 it is glibc-72 that loads): keep them all, drop musl's and the bare-ABI folders.
      if (inner[4] !== undefined && !/^glibc-\d+-Release$/.test(inner[4])) return false;
    }
  }
  if (name === 'cmake-ts' && inner[0] === 'src') return false;
  if (name.startsWith('@tensorflow/')) {
    if (inner[0] === 'wasm-out') return false;
    if (inner[0] === 'dist' && inner[1] !== undefined) {
      if (inner.length > 2) return false;
      return /^tf-.*\.node\.js$|\.wasm$|\.worker\.js$/.test(inner[1]);
    }
  }
  return true;
}

// Never packed: tfjs-node downloads libtensorflow (hundreds of MB) and needs CUDA 11.2; the check is webgpu's.
const NEVER = new Set(['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu']);

/** The installed folder of package `name` as Node would resolve it from `from` (within the repo), or null. */
function findPackage(repo, name, from) {
  for (let d = from; d.startsWith(repo); d = dirname(d)) {
    const p = join(d, 'node_modules', name);
    if (existsSync(join(p, 'package.json'))) return p;
    if (d === repo) break;
  }
  return null;
}

/**
 * The packages the bundle in `app` imports (its package.json's dependencies, optional and peer ones
 * included) and everything they depend on, as installed in the repo's node_modules: each folder
 * relative to the repo, '/'-separated.
 */
function packageClosure(repo, app, fail) {
  const top = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'));
  const deps = (m) => [
    ...Object.keys(m.dependencies ?? {}).map((name) => ({ name, required: true })),
    ...Object.keys({ ...m.optionalDependencies, ...m.peerDependencies }).map((name) => ({
      name,
      required: false,
    })),
  ];
  const found = new Set();
  const queue = deps(top).map((d) => ({ ...d, from: repo, by: 'tfjs-ddp' }));
  while (queue.length > 0) {
    const { name, required, from, by } = queue.shift();
    if (NEVER.has(name)) continue;
    const dir = findPackage(repo, name, from);
    if (dir === null) {
      if (required)
        fail(
          'E_PACK_DEPS',
          `${name} (a dependency of ${by}) is not installed`,
          'run `npm ci` in the repo root',
        );
      continue; // an optional or peer dependency that is not installed
    }
    const rel = relative(repo, dir).split(sep).join('/');
    if (found.has(rel)) continue;
    found.add(rel);
    const m = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    queue.push(...deps(m).map((d) => ({ ...d, from: dir, by: name })));
  }
  return [...found].sort();
}

/** Copies the packages the bundle in `dest` imports, and their dependencies, into `dest`/node_modules, pruned. */
export function copyPackageModules(repo, dest, fail) {
  const pkgs = packageClosure(repo, dest, fail);
  let dropped = 0;
  for (const pkg of pkgs) {
    const from = join(repo, pkg);
    const to = join(dest, pkg);
    mkdirSync(dirname(to), { recursive: true });
    cpSync(from, to, {
      recursive: true,
      verbatimSymlinks: true,
      filter: (src) => {
        const rel = relative(join(repo, 'node_modules'), src).split(sep).join('/');
        const own = relative(from, src).split(sep);
        if (own[0] === 'node_modules' || own.includes('node_modules')) return false; // nested: listed on their own
        if (own[0] === '.bin') return false;
        if (src === from) return true;
        const ok = keep(rel);
        if (!ok) dropped++;
        return ok;
      },
    });
  }
  return { packages: pkgs.length, dropped };
}
