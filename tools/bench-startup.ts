// bench:startup — how long the `tfjs-ddp` binary takes to start, from the repository (the sources
// through tsx) and from the installed package (issue 17): `--version`, bare `node -e 0` beside it
// as the floor, and the time from `train --workers 2` to the first step's line on stdout (wasm,
// a synthetic Fashion-MNIST at --resize 32, a fixed micro-batch so that no memory probe runs).
// The package is built, packed and installed into a temporary project first (as
// test/package.test.ts does), unless --project names a directory where it is installed.
// Runs alternate repo / package; prints one JSON line per figure (median, min, max of --runs).
// Usage: npm run bench:startup -- [--runs 7] [--train-runs 3] [--project DIR]
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '7' },
    'train-runs': { type: 'string', default: '3' },
    project: { type: 'string' },
  },
});
const repo = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'bench-startup-'));
// The installed project is about 300 MB: removed however the script ends.
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TFJS_DDP_')));

function install(): string {
  const pkg = join(work, 'package');
  execFileSync(process.execPath, ['tools/package/build.mjs', '--out', pkg, '--no-dts'], {
    cwd: repo,
    stdio: 'ignore',
  });
  const out = execFileSync(
    process.execPath,
    ['tools/package/pack.mjs', '--dir', pkg, '--out', work, '--no-lint'],
    {
      cwd: repo,
      encoding: 'utf8',
    },
  );
  const tarball = /^packed: (\S+\.tgz) /m.exec(out)![1]!;
  const project = join(work, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), '{"private":true,"type":"module"}');
  const peers = ['@tensorflow/tfjs-core@4.22.0', '@tensorflow/tfjs-layers@4.22.0'];
  execFileSync(
    'npm',
    [
      'install',
      tarball,
      ...peers,
      '--ignore-scripts',
      '--prefer-offline',
      '--omit=optional',
      '--no-audit',
      '--no-fund',
    ],
    { cwd: project, stdio: 'ignore' },
  );
  return project;
}

/** Seconds from spawn to exit, or to the first stdout line matching `until` (then the group is killed). */
function time(args: string[], until?: RegExp): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    let err = '';
    let done = false;
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!done && until !== undefined && until.test(out)) {
        done = true;
        resolve((performance.now() - t0) / 1000);
        process.kill(-child.pid!, 'SIGKILL');
      }
    });
    child.on('close', (code) => {
      if (done) return;
      if (until === undefined && code === 0) resolve((performance.now() - t0) / 1000);
      else
        reject(
          new Error(`${args.join(' ')} exited ${code} before ${until ?? 'its end'}:\n${err.slice(-2000)}`),
        );
    });
    child.on('error', reject);
  });
}

/** Each arm makes its arguments anew for every run (a new run directory). */
async function figure(
  name: string,
  arms: Record<string, () => string[]>,
  runs: number,
  until?: RegExp,
): Promise<void> {
  const seconds: Record<string, number[]> = Object.fromEntries(Object.keys(arms).map((k) => [k, []]));
  for (const args of Object.values(arms)) await time(args(), until); // warm-up: file cache
  for (let i = 0; i < runs; i++)
    for (const [arm, args] of Object.entries(arms)) seconds[arm]!.push(await time(args(), until));
  for (const [arm, xs] of Object.entries(seconds)) {
    const s = [...xs].sort((a, b) => a - b);
    const r = (x: number) => Math.round(x * 1000) / 1000;
    console.log(
      JSON.stringify({
        figure: name,
        arm,
        median_s: r(s[Math.floor(s.length / 2)]!),
        min_s: r(s[0]!),
        max_s: r(s.at(-1)!),
        runs,
      }),
    );
  }
}

const project = values.project ?? install();
const repoBin = join(repo, 'packages/cli/bin/tfjs-ddp.js');
const pkgBin = join(project, 'node_modules/tfjs-ddp/bin/tfjs-ddp.js');
await figure(
  '--version',
  { node: () => ['-e', '0'], repo: () => [repoBin, '--version'], package: () => [pkgBin, '--version'] },
  Number(values.runs),
);

const data = join(work, 'data');
await writeSyntheticFashionMnist(data, { train: 256, test: 32, seed: 5 });
const train = (bin: string, arm: string) => [
  bin,
  'train',
  '--data-dir',
  data,
  '--verify-data',
  'false',
  '--resize',
  '32',
  '--backend',
  'wasm',
  '--workers',
  '2',
  '--batch-size',
  '32',
  '--micro-batch',
  '16',
  '--epochs',
  '1',
  '--max-steps',
  '3',
  '--run-dir',
  join(work, `run-${arm}-${Math.random().toString(36).slice(2)}`),
];
await figure(
  'train --workers 2 to the first step',
  { repo: () => train(repoBin, 'repo'), package: () => train(pkgBin, 'package') },
  Number(values['train-runs']),
  /"type":"step"/,
);
console.log(
  JSON.stringify({
    machine: `${process.platform}-${process.arch}`,
    node: process.version,
    cores: availableParallelism(),
    load_average: loadavg().map((x) => Math.round(x * 100) / 100),
  }),
);
rmSync(work, { recursive: true, force: true });
