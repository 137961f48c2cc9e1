// The published package as a user meets it (issue 17): build:package and pack:package once, then in
// an empty directory outside the repository `npm install <tarball>` with the peer dependencies and
// --ignore-scripts, and from there the binary (`npx tfjs-ddp info`, a 2-worker training), the
// native data plane's and the oneDNN kernels' prebuilds (their `ldd` printed), the library API from a user's ES module with a
// user's task, its types from a user's TypeScript, `require('tfjs-ddp')` from CommonJS, and the refusal of a task module that would load
// a second copy of tfjs-core. Nothing here can reach the repository's node_modules: the project
// lives in the OS temp directory.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, repoRoot, startProcess, tmp, type Exit } from './support/spawn-cli';

// The one place the version is written (CHANGELOG.md).
const { version } = readJson<{ version: string }>(join(repoRoot, 'packages/cli/package.json'));
const fixtures = fileURLToPath(new URL('./fixtures/user-task/', import.meta.url));
const PEERS = ['@tensorflow/tfjs-core@4.22.0', '@tensorflow/tfjs-layers@4.22.0'];
// A user's shell has none of the repository's settings (CI sets TFJS_DDP_NATIVE=1 for the repo's build).
const userEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TFJS_DDP_')));

let work: string;
let project: string;
let data: string;
let packed: Exit;

function run(file: string, args: string[], cwd = project): Promise<Exit> {
  return startProcess(file, args, { cwd, env: userEnv }).exit;
}
const npx = (...args: string[]) => run('npx', ['--no', '--', 'tfjs-ddp', ...args]);
let infoRun: Promise<Exit> | undefined;
const info = () => (infoRun ??= npx('info'));
const dataFlags = () => ['--data-dir', data, '--verify-data', 'false', '--resize', '32', '--backend', 'wasm'];

beforeAll(async () => {
  work = tmp('package');
  project = join(work, 'project');
  expect(relative(repoRoot, project).startsWith('..'), `${project} must be outside the repository`).toBe(
    true,
  );
  const built = await run(
    process.execPath,
    ['tools/package/build.mjs', '--out', join(work, 'package')],
    repoRoot,
  );
  expect(built.code, built.stderr).toBe(0);
  packed = await run(
    process.execPath,
    ['tools/package/pack.mjs', '--dir', join(work, 'package'), '--out', work],
    repoRoot,
  );
  expect(packed.code, packed.stderr).toBe(0);
  const tarball = /^packed: (\S+\.tgz) /m.exec(packed.stdout)![1]!;

  mkdirSync(project);
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'user-project', private: true, type: 'module' }),
  );
  // --omit=optional: tfjs-node and tfjs-node-gpu (optional, useless without their install scripts)
  // triple the install's time; --prefer-offline: npm ci has put most of these in npm's cache.
  const flags = ['--ignore-scripts', '--prefer-offline', '--omit=optional', '--no-audit', '--no-fund'];
  const installed = await run('npm', ['install', tarball, ...PEERS, ...flags]);
  expect(installed.code, installed.stderr).toBe(0);
  console.log(`npm install of the tarball: ${installed.seconds.toFixed(1)} s`);

  data = join(work, 'data');
  await writeSyntheticFashionMnist(data, { train: 64, test: 16, seed: 5 });
  for (const f of ['model.mjs', 'data.mjs']) copyFileSync(join(fixtures, f), join(project, f));
}, 300_000);
// The project's node_modules is about 300 MB.
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the packed tfjs-ddp', () => {
  it('holds only what the runtime needs, passes publint and attw, and says how big it is', () => {
    const files = [...packed.stdout.matchAll(/^\s+\d+\s+(\S+)$/gm)].map((m) => m[1]!);
    console.log(packed.stdout.split('\n').find((l) => l.startsWith('packed:')));
    expect(files).toEqual(
      expect.arrayContaining([
        'CHANGELOG.md',
        'package.json',
        'bin/tfjs-ddp.js',
        'dist/index.js',
        'dist/index.d.ts',
        'dist/cli.js',
        'dist/probe-child.js',
      ]),
    );
    expect(packed.stdout).toMatch(/^publint: All good/m);
    expect(packed.stdout).toMatch(/^attw: No problems found/m);
    expect(files.filter((f) => /\.spec\.|\.test\.|(?<!\.d)\.ts$|\.map$|^packages\/|^test\//.test(f))).toEqual(
      [],
    );
  });

  it('installs with --ignore-scripts and answers `npx tfjs-ddp info` and `--version` from the project', async () => {
    const r = await info();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`tfjs-ddp ${version} (node v`);
    const v = await npx('--version');
    expect(v.stdout).toBe(`${version}\n`);
    expect(r.stdout).toMatch(/^backend: wasm/m);
  });

  it('ships the native data plane prebuilt and uses it where its libraries are found, else says why not', async () => {
    const prebuild = join(
      project,
      'node_modules',
      'tfjs-ddp',
      'prebuilds',
      `${process.platform}-${process.arch}`,
      'zmq_ring.node',
    );
    const r = await info();
    const line = /^all-reduce: .*$/m.exec(r.stdout)?.[0];
    if (!existsSync(prebuild)) {
      console.log(
        `no prebuild for ${process.platform}-${process.arch} in the package (no g++ or libzmq3-dev where it was built)`,
      );
      expect(line).toContain('zeromq.js');
      return;
    }
    const ldd = spawnSync('ldd', [prebuild], { encoding: 'utf8' });
    console.log(`ldd ${prebuild}:\n${ldd.stdout}`);
    expect(line).toMatch(
      ldd.stdout.includes('not found') ? /zeromq\.js \(.*zmq_ring\.node did not load/ : /native \(libzmq \d/,
    );
  });

  it('ships the oneDNN CPU kernels prebuilt and uses them where oneDNN is found, else says why not', async () => {
    const prebuild = join(project, 'node_modules', 'tfjs-ddp', 'prebuilds', `${process.platform}-${process.arch}`, 'dnnl_conv.node');
    const r = await info();
    const line = /^native: .*$/m.exec(r.stdout)?.[0];
    if (!existsSync(prebuild)) {
      console.log(`no oneDNN prebuild for ${process.platform}-${process.arch} in the package (no g++ or libdnnl-dev where it was built)`);
      expect(line).toMatch(/dnnl_conv\.node did not load .*apt-get install libdnnl2/);
      return;
    }
    const ldd = spawnSync('ldd', [prebuild], { encoding: 'utf8' });
    console.log(`ldd ${prebuild}:\n${ldd.stdout}`);
    expect(line).toMatch(ldd.stdout.includes('not found') ? /dnnl_conv\.node did not load .*apt-get install libdnnl2/ : /^native: {2}oneDNN \d+\.\d+\.\d+, 1 thread: .*Conv2DBackpropFilter/);
  });

  it('trains 2 steps with 2 worker processes through the installed binary', async () => {
    const runDir = join(work, 'cli-run');
    const r = await npx(
      'train',
      ...dataFlags(),
      '--workers',
      '2',
      '--batch-size',
      '16',
      '--micro-batch',
      '8',
      '--epochs',
      '1',
      '--max-steps',
      '2',
      '--run-dir',
      runDir,
    );
    expect(r.stderr).toMatch(/done: 2 steps/);
    expect(r.code).toBe(0);
    expect(readJson(join(runDir, 'summary.json'))).toMatchObject({
      status: 'completed',
      workers: 2,
      steps: 2,
    });
  });

  it("runs a user's task through `import { train } from 'tfjs-ddp'`", async () => {
    writeFileSync(
      join(project, 'train.mjs'),
      `import { train, loadModel, version } from 'tfjs-ddp';
const run = train({ model: './model.mjs', data: './data.mjs', backend: 'wasm', workers: 2, batchSize: 16, microBatch: 8, epochs: 1, maxSteps: 2, runDir: process.argv[2], settings: { train: 64 } });
const summary = await run.result;
const model = await loadModel(run.runDir);
console.log(JSON.stringify({ version, status: summary.status, workers: summary.workers, steps: summary.steps, params: model.countParams() }));
`,
    );
    const r = await run(process.execPath, ['train.mjs', join(work, 'api-run')]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toMatchObject({
      status: 'completed',
      workers: 2,
      steps: 2,
    });
  });

  it("type-checks a user's TypeScript program against the package's declarations", async () => {
    writeFileSync(join(project, 'consumer.ts'), CONSUMER_TS);
    const compilerOptions = {
      strict: true,
      module: 'nodenext',
      target: 'es2022',
      noEmit: true,
      skipLibCheck: true,
      types: [],
    };
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions, files: ['consumer.ts'] }),
    );
    const r = await run(process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', '.']);
    expect(r.code, r.stdout).toBe(0);
  });

  it('is require()d from CommonJS (Node >= 20.19 loads ESM synchronously)', async () => {
    writeFileSync(
      join(project, 'require.cjs'),
      "const m = require('tfjs-ddp');\nconsole.log([typeof m.train, typeof m.loadModel, typeof m.defineModel, typeof m.defineData].join(' '));\n",
    );
    const r = await run(process.execPath, ['require.cjs']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('function function function function');
  });

  it('refuses a task module that resolves its own copy of tfjs-core, naming both, before any work', async () => {
    const other = join(project, 'other');
    const fake = join(other, 'node_modules', '@tensorflow', 'tfjs-core');
    mkdirSync(fake, { recursive: true });
    writeFileSync(
      join(fake, 'package.json'),
      JSON.stringify({ name: '@tensorflow/tfjs-core', version: '4.0.0', main: 'index.js' }),
    );
    writeFileSync(join(fake, 'index.js'), '');
    copyFileSync(join(fixtures, 'model.mjs'), join(other, 'model.mjs'));
    const r = await npx(
      'train',
      ...dataFlags(),
      '--model',
      'other/model.mjs',
      '--data',
      'data.mjs',
      '--max-steps',
      '1',
      '--run-dir',
      join(work, 'refused'),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `E_TASK: model module ${join(other, 'model.mjs')} resolves @tensorflow/tfjs-core 4.0.0 at ${fake}, but tfjs-ddp trains with 4.22.0 at ${join(project, 'node_modules', '@tensorflow', 'tfjs-core')}`,
    );
  });
});

// A user's TypeScript: the task helpers' inferred types, the options, events and summary, and an
// error TypeScript must find (a wrong option type).
const CONSUMER_TS = `import { defineData, defineModel, loadModel, train, version, type RunSummary, type TrainOptions } from 'tfjs-ddp';
export const model = defineModel({
  create({ tf, seed }) {
    const m = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [4], kernelInitializer: tf.initializers.glorotUniform({ seed }) })] });
    m.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    return m;
  },
});
export const data = defineData({
  load({ tf }) {
    const split = { size: 4, batch: (i: ArrayLike<number>) => ({ xs: tf.zeros([i.length, 4]), ys: tf.zeros([i.length, 2]) }) };
    return { train: split, test: split };
  },
});
const options: TrainOptions = { model: './model.mjs', data: './data.mjs', workers: 2, maxSteps: 2, backend: 'wasm' };
export async function main(): Promise<string> {
  const run = train(options);
  run.on('step', (e) => console.log(e.step, e.loss));
  const s: RunSummary = await run.result;
  return [version, s.status, (await loadModel(run.runDir)).countParams()].join(' ');
}
// @ts-expect-error: workers is a number
export const wrong: TrainOptions = { workers: 'two' };
`;
