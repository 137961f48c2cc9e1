// tools/gpu-check/pack.mjs without the downloads (--no-node --no-data, xz -1 for speed): the bundle
// holds the package as built with the benchmarks (no TypeScript, no tsx), the node_modules it imports
// pruned to linux-x64 (dawn.node for linux-x64 only, no tfjs-node, no dev tools), run.sh and collect.mjs, a manifest that matches the
// files, and a size over the budget fails the pack. The full bundle is run by `bash
// .gpu-check/run.sh --smoke` (docs/gpu-check.md), not here: packing Node and the data takes minutes.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from './support/spawn-cli';

const PACK = join(repoRoot, 'tools/gpu-check/pack.mjs');
const MiB = 2 ** 20;
const hasXz = spawnSync('sh', ['-c', 'command -v xz'], { stdio: 'ignore' }).status === 0;

function pack(out: string, ...extra: string[]) {
  return spawnSync(
    process.execPath,
    [PACK, '--out', out, '--no-node', '--no-data', '--xz-level', '1', ...extra],
    {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
}

describe.skipIf(!hasXz)('gpu-check:pack --no-node --no-data', () => {
  const root = mkdtempSync(join(tmpdir(), 'gpu-check-pack-'));
  const out = join(root, 'bundle');
  let result: ReturnType<typeof pack>;
  let entries: string[];

  beforeAll(() => {
    result = pack(out);
    entries = existsSync(join(out, 'app.tar.xz'))
      ? execFileSync('tar', ['-tJf', join(out, 'app.tar.xz')], {
          encoding: 'utf8',
          maxBuffer: 64 * MiB,
        }).split('\n')
      : [];
  }, 120_000);
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('packs and prints the bundle size against the budget', () => {
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/bundle\/ is \d+\.\d MiB \(\d+ bytes\), budget \d+\.\d MiB/);
  });

  it('carries run.sh, collect.mjs, adapter-features.mjs, the app and a manifest, and no Node or data when told not to', () => {
    for (const f of ['run.sh', 'collect.mjs', 'adapter-features.mjs', 'app.tar.xz', 'MANIFEST.json'])
      expect(existsSync(join(out, f)), f).toBe(true);
    expect(existsSync(join(out, 'node.xz'))).toBe(false);
    expect(existsSync(join(out, 'data.tar.xz'))).toBe(false);
    const manifest = JSON.parse(readFileSync(join(out, 'MANIFEST.json'), 'utf8'));
    expect(manifest.node).toBeNull();
    expect(manifest.data).toBe(false);
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
    expect(manifest.commit).toBe(head);
    for (const [f, { bytes, sha256 }] of Object.entries(
      manifest.files as Record<string, { bytes: number; sha256: string }>,
    )) {
      expect(statSync(join(out, f)).size, f).toBe(bytes);
      expect(
        createHash('sha256')
          .update(readFileSync(join(out, f)))
          .digest('hex'),
        f,
      ).toBe(sha256);
    }
  });

  it('holds the built package with the benchmarks, and neither the sources nor a TypeScript loader', () => {
    for (const f of [
      'bin/tfjs-ddp.js',
      'dist/cli.js',
      'dist/probe-child.js',
      'dist/bench-step.js',
      'dist/bench-kernels.js',
      'package.json',
    ])
      expect(entries, f).toContain(`app/${f}`);
    expect(
      entries.filter(
        (e) => e.startsWith('app/packages/') || (!e.startsWith('app/node_modules/') && e.endsWith('.ts')),
      ),
    ).toEqual([]);
    for (const p of ['tsx', 'esbuild', '@esbuild', '@tfjs-ddp'])
      expect(
        entries.filter((e) => e.startsWith(`app/node_modules/${p}/`)),
        p,
      ).toEqual([]);
  });

  it("runs from its own node_modules: the CLI's info loads TensorFlow.js and the wasm backend", () => {
    const unpacked = join(root, 'unpacked');
    mkdirSync(unpacked);
    execFileSync('tar', ['-xJf', join(out, 'app.tar.xz'), '-C', unpacked]);
    const r = spawnSync(
      process.execPath,
      [join(unpacked, 'app/bin/tfjs-ddp.js'), 'info', '--backend', 'wasm', '--json'],
      {
        cwd: unpacked,
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ backend: { chosen: 'wasm', tf_backend: 'wasm' } });
  });

  it("keeps linux-x64's native builds and drops the other platforms'", () => {
    expect(entries).toContain('app/node_modules/webgpu/dist/linux-x64/dawn.node');
    expect(entries.filter((e) => /^app\/node_modules\/webgpu\/dist\/(?!linux-x64\/)[^/]+\//.test(e))).toEqual(
      [],
    );
    expect(
      entries.some((e) =>
        /^app\/node_modules\/zeromq\/build\/linux\/x64\/node\/glibc-\d+-Release\/addon\.node$/.test(e),
      ),
    ).toBe(true);
    expect(
      entries.filter((e) => /^app\/node_modules\/zeromq\/build\/(darwin|win32|linux\/arm64)\//.test(e)),
    ).toEqual([]);
  });

  it('leaves out tfjs-node, the dev tools, type declarations and source maps', () => {
    const packages = new Set(
      entries.map((e) => /^app\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(e)?.[1]).filter(Boolean),
    );
    for (const dev of [
      '@tensorflow/tfjs-node',
      '@tensorflow/tfjs-node-gpu',
      'vitest',
      'typescript',
      'eslint',
      'nx',
      'prettier',
    ]) {
      expect(packages.has(dev), dev).toBe(false);
    }
    expect(entries.filter((e) => e.startsWith('app/node_modules/') && /\.(map|d\.ts)$/.test(e))).toEqual([]);
    expect(entries).toContain('app/node_modules/@tensorflow/tfjs-core/dist/tf-core.node.js');
    expect(entries).toContain('app/node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm');
  });

  it('stays small: the app is under 12 MiB even at xz -1 (7.8 MiB at the default -9)', () => {
    expect(statSync(join(out, 'app.tar.xz')).size).toBeLessThan(12 * MiB);
  });

  it('--check measures the bundle against the budget without packing, and fails with E_PACK_BUDGET when it is over', () => {
    const check = (...extra: string[]) =>
      spawnSync(process.execPath, [PACK, '--check', '--out', out, ...extra], {
        cwd: repoRoot,
        encoding: 'utf8',
      });
    const ok = check();
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/bundle\/ is \d+\.\d MiB \(\d+ bytes\), budget \d+\.\d MiB/);
    const over = check('--budget-mib', '1');
    expect(over.status).toBe(1);
    expect(over.stderr).toMatch(/E_PACK_BUDGET: .* is \d+\.\d MiB, over the budget of 1\.0 MiB/);
  });

  it('never packs into a folder it did not make', () => {
    const mine = join(root, 'mine');
    mkdirSync(mine);
    writeFileSync(join(mine, 'notes.txt'), 'keep me');
    const r = pack(mine);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/E_PACK_OUT: .*mine exists and is not a bundle made by gpu-check:pack/);
    expect(readFileSync(join(mine, 'notes.txt'), 'utf8')).toBe('keep me');
  });
});
