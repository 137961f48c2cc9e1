// Builds the native oneDNN convolutions (dnnl_conv.cc → build/dnnl_conv.node) with the C++ compiler
// and the system's oneDNN (Debian: apt-get install g++ libdnnl-dev). Run by `npm ci` (postinstall,
// with --optional: a machine without a compiler or oneDNN's headers keeps the wasm kernels and is told
// how to get the native ones), by `npm run build:native` and by the worker's vitest global setup.
// Same conventions as packages/core/native/build.mjs: TFJS_DDP_NATIVE=1 (set by .ci/run) makes the
// build required even with --optional, TFJS_DDP_NATIVE=0 skips it, and `--prebuild FILE`
// (tools/package/build.mjs) builds the package's prebuild there instead, stripped.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, 'dnnl_conv.cc');
const prebuildAt = process.argv.indexOf('--prebuild');
const prebuild = prebuildAt >= 0 ? process.argv[prebuildAt + 1] : undefined;
const output = prebuild ?? join(here, 'build', 'dnnl_conv.node');
const optional = process.argv.includes('--optional') && process.env.TFJS_DDP_NATIVE !== '1';
const force = process.argv.includes('--force') || prebuild !== undefined;
const dnnlHeader = process.env.TFJS_DDP_DNNL_INCLUDE || '/usr/include/oneapi/dnnl';

function giveUp(why) {
  const hint =
    'convolutions run on the wasm kernels instead; for the native oneDNN ones install g++ and ' +
    'libdnnl-dev (Debian/Ubuntu) and run `npm run build:native`';
  if (optional) {
    console.log(`tfjs-ddp: native oneDNN convolutions not built: ${why}; ${hint}`);
    process.exit(0);
  }
  console.error(`tfjs-ddp: cannot build the native oneDNN convolutions: ${why}\n  ${hint}`);
  process.exit(1);
}

if (process.env.TFJS_DDP_NATIVE === '0') giveUp('TFJS_DDP_NATIVE=0');
const newestSource = Math.max(...[source, join(here, 'batch_norm.h'), join(here, 'channels.h'), join(here, 'pool.h'), join(here, 'reduce.h'), join(here, 'heap_call.h'), join(here, 'elementwise.h')].map((f) => statSync(f).mtimeMs));
if (!force && existsSync(output) && statSync(output).mtimeMs >= newestSource) process.exit(0);

const nodeDir = process.env.npm_config_nodedir || join(dirname(process.execPath), '..');
const include = join(nodeDir, 'include', 'node');
if (!existsSync(join(include, 'node_api.h'))) giveUp(`Node's headers are not in ${include}`);
if (!existsSync(join(dnnlHeader, 'dnnl.hpp')))
  giveUp(`oneDNN's headers are not in ${dnnlHeader} (libdnnl-dev)`);

mkdirSync(dirname(output), { recursive: true });
const cxx = process.env.CXX || 'c++';
const args = [
  '-std=c++17',
  '-O2',
  '-fPIC',
  '-shared',
  '-fvisibility=hidden',
  '-fopenmp',
  '-Wall',
  '-Wextra',
  '-DNODE_GYP_MODULE_NAME=dnnl_conv',
  `-I${include}`,
  `-I${dnnlHeader}`,
  source,
  '-o',
  output,
  '-ldnnl',
  ...(prebuild === undefined ? [] : ['-s']),
];
const r = spawnSync(cxx, args, { encoding: 'utf8' });
if (r.error) giveUp(`${cxx}: ${r.error.message}`);
if (r.status !== 0)
  giveUp(`${cxx} failed:\n${(r.stderr || r.stdout).trim().split('\n').slice(0, 20).join('\n')}`);
if (r.stderr.trim()) console.log(r.stderr.trim());
console.log(`tfjs-ddp: built ${output}`);
