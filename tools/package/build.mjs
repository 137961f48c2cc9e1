#!/usr/bin/env node
// build:package — builds the publishable package `tfjs-ddp` into dist/package/ (git-ignored) from the
// workspaces' sources: an ESM bundle (tsup) of the library API (packages/cli/src/public-api.ts), the
// CLI (packages/cli/src/main.ts) and the memory-probe child, with the private @tfjs-ddp/* workspaces
// bundled in and every third-party package left external; one .d.ts for the library API; the bin;
// and a package.json whose dependencies are the workspaces' own (tfjs-core and tfjs-layers as peers).
// Every bare import the bundle keeps must be declared there, or the build fails naming it.
// `npm run build:package` runs it; `npm pack dist/package` packs it; docs/package.md explains it.
//
// --tools adds the benchmarks that the prepared GPU check runs (dist/bench-step.js, dist/bench-kernels.js),
// for tools/gpu-check/pack.mjs: the GPU machine then runs JavaScript, with no tsx (nor esbuild) to ship.
//
// Usage: node tools/package/build.mjs [--out DIR] [--no-dts] [--tools]
import { spawnSync } from 'node:child_process';
import { builtinModules, createRequire } from 'node:module';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'tsup';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values: opt } = parseArgs({
  options: {
    out: { type: 'string', default: join(repo, 'dist', 'package') },
    'no-dts': { type: 'boolean', default: false },
    tools: { type: 'boolean', default: false },
  },
});
const out = opt.out;
const sorted = (o) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
const readJson = (p) => JSON.parse(readFileSync(join(repo, p), 'utf8'));

const WORKSPACES = ['core', 'data', 'worker', 'coordinator', 'cli'];
// The user's TensorFlow.js: one instance shared with their task modules (load-task.ts checks it).
const PEERS = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-layers'];
// Only the repository's bin/ wrappers need tsx: the package runs JavaScript.
const DEV_ONLY = ['tsx'];

function fail(message, hint) {
  console.error(`build:package: E_PACKAGE: ${message}\n  ${hint}`);
  process.exit(1);
}

/** The third-party dependencies of every workspace, with the versions they ask for. */
function workspaceDependencies() {
  const deps = {};
  const optional = {};
  for (const w of WORKSPACES) {
    const m = readJson(`packages/${w}/package.json`);
    for (const [kind, into] of [
      ['dependencies', deps],
      ['optionalDependencies', optional],
    ]) {
      for (const [name, range] of Object.entries(m[kind] ?? {})) {
        if (name.startsWith('@tfjs-ddp/') || DEV_ONLY.includes(name)) continue;
        if (into[name] !== undefined && into[name] !== range) {
          fail(
            `${name} is asked for as ${into[name]} and ${range} by the workspaces`,
            'use one range in every packages/*/package.json',
          );
        }
        into[name] = range;
      }
    }
  }
  const peers = Object.fromEntries(PEERS.map((p) => [p, deps[p]]));
  const own = Object.fromEntries(Object.entries(deps).filter(([name]) => !PEERS.includes(name)));
  return { deps: own, optional, peers };
}

/** tsconfig `paths` from each workspace's exports to its sources, so that the .d.ts inlines them. */
function workspacePaths() {
  const paths = {};
  for (const w of WORKSPACES) {
    const m = readJson(`packages/${w}/package.json`);
    for (const [sub, file] of Object.entries(m.exports))
      paths[join(m.name, sub)] = [join('packages', w, file)];
  }
  return paths;
}

const started = Date.now();
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const cli = readJson('packages/cli/package.json');
const { deps, optional, peers } = workspaceDependencies();

// TensorFlow.js' packages (core, layers, the cpu, wasm and webgpu backends) are CommonJS bundles of
// 0.4–1.5 MB. An ES module that imports one makes Node scan its whole source for export names
// (cjs-module-lexer) and parse it to decide its format, in every process: 0.5 s of a probe child's
// 1.8 s of CPU on the 2-core VM (--cpu-prof), the most of any part. The bundle require()s them
// instead, through a module that lists their export names, read here at build time; require()
// loads the instance an import would (the same file, the same module cache).
const REQUIRED = /^@tensorflow\/tfjs-(core|layers|backend-cpu|backend-wasm|backend-webgpu)$/;
const requireHere = createRequire(join(repo, 'packages', 'worker', 'package.json'));
function requireShim(name) {
  const names = Object.keys(requireHere(name)).filter((n) => n !== 'default' && n !== '__esModule');
  const lines = names.map((n, i) => `const _${i} = m[${JSON.stringify(n)}];`);
  const list = names.map((n, i) => `_${i} as ${JSON.stringify(n)}`).join(', ');
  return [
    "import { createRequire } from 'node:module';",
    `const m = createRequire(import.meta.url)(${JSON.stringify(name)});`,
    'export default m;',
    ...lines,
    `export { ${list} };`,
  ].join('\n');
}

// Bare imports that are not a workspace stay imports of the user's node_modules.
const externals = {
  name: 'tfjs-ddp-externals',
  setup(b) {
    b.onResolve({ filter: REQUIRED }, (args) => ({ path: args.path, namespace: 'require-shim' }));
    b.onLoad({ filter: /.*/, namespace: 'require-shim' }, (args) => ({
      contents: requireShim(args.path),
      loader: 'js',
      resolveDir: repo,
    }));
    b.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith('@tfjs-ddp/') || args.kind === 'entry-point'
        ? undefined
        : { path: args.path, external: true },
    );
  },
};

await build({
  entry: {
    index: 'packages/cli/src/public-api.ts',
    cli: 'packages/cli/src/main.ts',
    'probe-child': 'packages/worker/src/memory/probe-child.ts',
    ...(opt.tools ? { 'bench-step': 'tools/bench-step.ts', 'bench-kernels': 'tools/bench-kernels.ts' } : {}),
  },
  outDir: join(out, 'dist'),
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  splitting: true,
  treeshake: false,
  sourcemap: false,
  clean: false,
  silent: true,
  metafile: true,
  tsconfig: 'packages/cli/tsconfig.json',
  esbuildPlugins: [externals],
  // shippedFile() (packages/core/src/runtime/shipped-file.ts) resolves against dist/ from here on.
  define: { __TFJS_DDP_BUNDLE__: 'true' },
  dts: opt['no-dts']
    ? false
    : {
        entry: { index: 'packages/cli/src/public-api.ts' },
        // The workspaces by path: resolved through node_modules, rollup-plugin-dts would keep them external.
        compilerOptions: { paths: workspacePaths() },
      },
});

// Every import the bundle left external must be a builtin or a declared (peer, optional) dependency.
const meta = JSON.parse(readFileSync(join(out, 'dist', 'metafile-esm.json'), 'utf8'));
rmSync(join(out, 'dist', 'metafile-esm.json'));
const declared = new Set([...Object.keys(deps), ...Object.keys(optional), ...Object.keys(peers)]);
const packageOf = (s) =>
  s
    .split('/')
    .slice(0, s.startsWith('@') ? 2 : 1)
    .join('/');
const used = new Set();
for (const o of Object.values(meta.outputs)) {
  for (const i of o.imports) if (i.external) used.add(i.path);
}
for (const i of Object.keys(meta.inputs))
  if (i.startsWith('require-shim:')) used.add(i.slice('require-shim:'.length));
const undeclared = [...used].filter(
  (s) => !s.startsWith('node:') && !builtinModules.includes(s) && !declared.has(packageOf(s)),
);
if (undeclared.length > 0) {
  fail(
    `the bundle imports ${undeclared.join(', ')}, which no workspace declares`,
    'add it to the dependencies of the workspace that imports it',
  );
}
const unused = [...declared].filter((d) => ![...used].some((s) => packageOf(s) === d));

// The native data plane, prebuilt for this platform (linux-x64 in CI), dynamically linked to libzmq5.
const prebuild = join(out, 'prebuilds', `${process.platform}-${process.arch}`, 'zmq_ring.node');
mkdirSync(dirname(prebuild), { recursive: true });
const native = spawnSync(
  process.execPath,
  [join(repo, 'packages/core/native/build.mjs'), '--optional', '--prebuild', prebuild],
  { encoding: 'utf8' },
);
if (native.status !== 0)
  fail(`the native prebuild failed: ${native.stderr.trim()}`, 'install g++ and libzmq3-dev');
// The oneDNN CPU kernels, prebuilt the same way, dynamically linked to libdnnl.so.2 (Debian's
// libdnnl2) and libgomp: where those are missing they do not load and the wasm kernels run.
const dnnlPrebuild = join(dirname(prebuild), 'dnnl_conv.node');
const dnnl = spawnSync(
  process.execPath,
  [join(repo, 'packages/worker/native/build.mjs'), '--optional', '--prebuild', dnnlPrebuild],
  { encoding: 'utf8' },
);
if (dnnl.status !== 0)
  fail(`the oneDNN prebuild failed: ${dnnl.stderr.trim()}`, 'install g++ and libdnnl-dev');
if (!existsSync(prebuild) && !existsSync(dnnlPrebuild)) rmSync(join(out, 'prebuilds'), { recursive: true });

mkdirSync(join(out, 'bin'));
writeFileSync(
  join(out, 'bin', 'tfjs-ddp.js'),
  "#!/usr/bin/env node\n// The `tfjs-ddp` executable of the published package (tools/package/build.mjs writes it).\nimport '../dist/cli.js';\n",
);
chmodSync(join(out, 'bin', 'tfjs-ddp.js'), 0o755);

const root = readJson('package.json');
const manifest = {
  name: 'tfjs-ddp',
  version: cli.version,
  description: root.description,
  license: root.license,
  type: 'module',
  engines: root.engines,
  bin: { 'tfjs-ddp': 'bin/tfjs-ddp.js' },
  main: './dist/index.js',
  types: './dist/index.d.ts',
  exports: {
    '.': { types: './dist/index.d.ts', default: './dist/index.js' },
    './package.json': './package.json',
  },
  files: ['bin', 'dist', 'prebuilds', 'CHANGELOG.md'],
  keywords: ['tensorflow.js', 'tfjs', 'distributed', 'data-parallel', 'ring-allreduce', 'zeromq', 'training'],
  dependencies: sorted(deps),
  optionalDependencies: sorted(optional),
  peerDependencies: sorted(peers),
};
writeFileSync(join(out, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
for (const f of ['README.md', 'CHANGELOG.md']) {
  if (existsSync(join(repo, f))) writeFileSync(join(out, f), readFileSync(join(repo, f)));
}

const seconds = ((Date.now() - started) / 1000).toFixed(1);
console.log(`build:package: ${out} (tfjs-ddp ${cli.version}) in ${seconds} s`);
console.log(
  `  external imports: ${[...used]
    .filter((s) => !builtinModules.includes(s) && !s.startsWith('node:'))
    .sort()
    .join(', ')}`,
);
if (unused.length > 0) console.log(`  declared but not imported by the bundle: ${unused.join(', ')}`);
console.log(
  existsSync(prebuild)
    ? `  native prebuild: ${prebuild}`
    : `  no native prebuild (${native.stdout.trim()}): the package will use zeromq.js`,
);
console.log(
  existsSync(dnnlPrebuild)
    ? `  oneDNN prebuild: ${dnnlPrebuild}`
    : `  no oneDNN prebuild (${dnnl.stdout.trim()}): the package's CPU backend will use the wasm kernels`,
);
