#!/usr/bin/env node
// pack:package — `npm pack` of the package build:package made (dist/package/), then a check of what
// went in: only the files the runtime needs (bin/, the bundle's .js chunks, the one index.d.ts, the
// native prebuilds, package.json, README.md, CHANGELOG.md) — no tests, no TypeScript sources, no
// source maps — and the tarball's size. Prints the file list and one `packed:` line; exits 1 naming
// what does not belong. Then publint (the manifest and its paths) and attw, Are The Types Wrong (the
// types as each TypeScript module resolution finds them), whose failures fail the pack too. Run by
// `npm run pack:package` and test/package.test.ts; docs/package.md.
//
// Usage: node tools/package/pack.mjs [--dir DIR] [--out DIR] [--no-lint]
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values: opt } = parseArgs({
  options: {
    dir: { type: 'string', default: join(repo, 'dist', 'package') },
    out: { type: 'string', default: join(repo, 'dist') },
    // bench:startup packs a build without declarations, which the lints would refuse.
    'no-lint': { type: 'boolean', default: false },
  },
});

// What may be in the tarball; anything else fails the pack.
const ALLOWED = [
  /^package\.json$/,
  /^README\.md$/,
  /^CHANGELOG\.md$/,
  /^bin\/tfjs-ddp\.js$/,
  /^dist\/[\w-]+\.js$/,
  /^dist\/index\.d\.ts$/,
  /^prebuilds\/[\w-]+\/[\w-]+\.node$/,
];
// 1 MiB: the bundle is about 150 KiB packed; the native prebuild adds a few hundred KiB at most.
const MAX_PACKED_BYTES = 1024 * 1024;

mkdirSync(opt.out, { recursive: true });
const r = spawnSync('npm', ['pack', resolve(opt.dir), '--pack-destination', resolve(opt.out), '--json'], {
  encoding: 'utf8',
});
if (r.status !== 0) {
  console.error(`pack:package: E_PACKAGE: npm pack ${opt.dir} failed (exit ${r.status}): ${r.stderr.trim()}`);
  console.error('  run `npm run build:package` first');
  process.exit(1);
}
const [info] = JSON.parse(r.stdout);
const files = info.files.map((f) => ({ path: f.path, size: f.size }));
for (const f of files) console.log(`${String(f.size).padStart(9)}  ${f.path}`);
const stray = files.filter((f) => !ALLOWED.some((re) => re.test(f.path)));
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const tarball = join(resolve(opt.out), info.filename);
console.log(
  `packed: ${tarball} ${info.size} bytes (${kib(info.size)}), ${files.length} files, ${kib(info.unpackedSize)} unpacked`,
);
if (stray.length > 0) {
  console.error(
    `pack:package: E_PACKAGE: the tarball holds ${stray.map((f) => f.path).join(', ')}, which the runtime does not need`,
  );
  console.error(
    '  leave them out of dist/package (tools/package/build.mjs) or add them to ALLOWED in pack.mjs',
  );
  process.exit(1);
}
if (info.size > MAX_PACKED_BYTES) {
  console.error(
    `pack:package: E_PACKAGE: the tarball is ${kib(info.size)}, over the ${kib(MAX_PACKED_BYTES)} limit`,
  );
  console.error('  find what grew with the file list above');
  process.exit(1);
}

// attw's cjs-resolves-to-esm: TypeScript's node16 resolution does not model require() of ESM, which
// Node >= 20.19 (the package's engines) does; test/package.test.ts require()s the package from CommonJS.
const LINTS = [
  ['publint', '--strict', resolve(opt.dir)],
  ['attw', tarball, '--ignore-rules', 'cjs-resolves-to-esm', '--format', 'table-flipped'],
];
for (const [tool, ...args] of opt['no-lint'] ? [] : LINTS) {
  const l = spawnSync('npx', ['--no', '--', tool, ...args], {
    cwd: repo,
    encoding: 'utf8',
    // FORCE_COLOR (set by nx and vitest in CI) beats NO_COLOR in attw's colour library.
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  // eslint-disable-next-line no-control-regex
  const said = `${l.stdout}${l.stderr}`.replace(/\x1b\[[0-9;]*m/g, '').trim();
  if (l.status !== 0) {
    console.error(`pack:package: E_PACKAGE: ${tool} found problems (exit ${l.status}):\n${said}`);
    console.error('  fix the package manifest or the build (tools/package/build.mjs)');
    process.exit(1);
  }
  console.log(
    `${tool}: ${
      said
        .split('\n')
        .filter((line) => /good|no problems/i.test(line))
        .join(' ')
        .trim() || 'passed'
    }`,
  );
}
