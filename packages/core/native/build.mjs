// Builds the native data plane (zmq_ring.cc → build/zmq_ring.node) with the C++ compiler and the
// system's libzmq (Debian: apt-get install g++ libzmq3-dev). Run by `npm ci` (postinstall, with
// --optional: a machine without a compiler or libzmq's headers keeps the zeromq.js data plane and is
// told how to get the faster one) and by `npm run build:native`. Node's own headers come from the
// Node installation (include/node next to bin/node), or npm_config_nodedir.
// `--prebuild FILE` (tools/package/build.mjs) builds the package's prebuild there instead, stripped.
// libstdc++ stays dynamic: linked in statically it pulls arc4random and needs glibc 2.36 instead of
// 2.34 (docs/package.md).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, 'zmq_ring.cc');
const headers = [join(here, 'zmq_guard.h'), join(here, 'zmq_links.h')];
const prebuildAt = process.argv.indexOf('--prebuild');
const prebuild = prebuildAt >= 0 ? process.argv[prebuildAt + 1] : undefined;
const output = prebuild ?? join(here, 'build', 'zmq_ring.node');
// TFJS_DDP_NATIVE=1 (set by .ci/run): the build is required even when called with --optional.
const optional = process.argv.includes('--optional') && process.env.TFJS_DDP_NATIVE !== '1';
const force = process.argv.includes('--force') || prebuild !== undefined;

function giveUp(why) {
  const hint =
    'the ring all-reduce uses zeromq.js instead (slower for large buffers); for the native data plane ' +
    'install g++ and libzmq3-dev (Debian/Ubuntu) and run `npm run build:native`';
  if (optional) {
    console.log(`tfjs-ddp: native data plane not built: ${why}; ${hint}`);
    process.exit(0);
  }
  console.error(`tfjs-ddp: cannot build the native data plane: ${why}\n  ${hint}`);
  process.exit(1);
}

if (process.env.TFJS_DDP_NATIVE === '0') giveUp('TFJS_DDP_NATIVE=0');
const newestSource = Math.max(...[source, ...headers].map((f) => statSync(f).mtimeMs));
if (!force && existsSync(output) && statSync(output).mtimeMs >= newestSource) process.exit(0);

const nodeDir = process.env.npm_config_nodedir || join(dirname(process.execPath), '..');
const include = join(nodeDir, 'include', 'node');
if (!existsSync(join(include, 'node_api.h'))) giveUp(`Node's headers are not in ${include}`);

mkdirSync(dirname(output), { recursive: true });
const cxx = process.env.CXX || 'c++';
const args = [
  '-std=c++17',
  '-O3',
  '-fPIC',
  '-shared',
  '-fvisibility=hidden',
  '-Wall',
  '-Wextra',
  '-DNODE_GYP_MODULE_NAME=zmq_ring',
  `-I${include}`,
  source,
  '-o',
  output,
  '-lzmq',
  ...(prebuild === undefined ? [] : ['-s']),
];
const r = spawnSync(cxx, args, { encoding: 'utf8' });
if (r.error) giveUp(`${cxx}: ${r.error.message}`);
if (r.status !== 0)
  giveUp(`${cxx} failed:\n${(r.stderr || r.stdout).trim().split('\n').slice(0, 20).join('\n')}`);
if (r.stderr.trim()) console.log(r.stderr.trim());
console.log(`tfjs-ddp: built ${output}`);
