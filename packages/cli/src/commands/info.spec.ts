import { existsSync } from 'node:fs';
import { nonSnakeCaseKeys } from '@tfjs-ddp/core';
import { DEBIAN_FASHION_MNIST_DIR } from '@tfjs-ddp/data';
import { describe, expect, it } from 'vitest';
import { run } from '../test-io';
import type { InfoReport } from './info';

// An empty cache: the data found is the Debian package's, where it is installed, else none.
const env = { TFJS_DDP_CACHE: '/nonexistent/tfjs-ddp-cache' };
const hasDebianData = existsSync(DEBIAN_FASHION_MNIST_DIR);

describe('tfjs-ddp info', () => {
  it('reports the cpu backend and the 758,226-parameter DenseNet as one JSON object', async () => {
    const r = await run(['info', '--backend', 'cpu', '--json'], env);
    const report = JSON.parse(r.stdout) as InfoReport;
    expect(report.backend).toMatchObject({
      requested: 'cpu',
      chosen: 'cpu',
      tf_backend: 'cpu',
      device: 'cpu',
      skipped: [],
    });
    expect(report.model).toEqual({
      name: 'densenet',
      trainable_params: 758_226,
      input_shape: [96, 96, 1],
      classes: 10,
    });
    expect(r.code).toBe(report.data.ok ? 0 : 1);
    // Native where it was built (CI requires it with TFJS_DDP_NATIVE=1), else zeromq.js saying why.
    expect(report.data_plane).toMatch(
      process.env['TFJS_DDP_NATIVE'] === '1'
        ? /^native \(libzmq \d/
        : /^(native \(libzmq \d|zeromq\.js \(.+\))/,
    );
  });

  it('prints snake_case keys only, as summary.json and runs --json do', async () => {
    const r = await run(['info', '--backend', 'cpu', '--json'], env);
    const report = JSON.parse(r.stdout) as InfoReport;
    expect(report.model.trainable_params).toBe(758_226);
    // env maps environment variable names (CUDA_VISIBLE_DEVICES) to values: data, not fields.
    expect(nonSnakeCaseKeys(report, ['env'])).toEqual([]);
    expect(
      nonSnakeCaseKeys({ env: { CUDA_VISIBLE_DEVICES: '0' }, gpu: { memoryBytes: 1 } }, ['env']),
    ).toEqual(['.gpu.memoryBytes']);
  });

  it.runIf(hasDebianData)('finds and verifies the Debian package dataset and exits 0', async () => {
    const r = await run(['info', '--backend', 'cpu', '--json'], env);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as InfoReport).data).toEqual({
      ok: true,
      source: DEBIAN_FASHION_MNIST_DIR,
      origin: 'debian',
      train: 60_000,
      test: 10_000,
    });
  });

  it.runIf(hasDebianData)('says when the directory came from TFJS_DDP_DATA', async () => {
    const r = await run(['info', '--backend', 'cpu'], { ...env, TFJS_DDP_DATA: DEBIAN_FASHION_MNIST_DIR });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      `data:    ${DEBIAN_FASHION_MNIST_DIR} (from TFJS_DDP_DATA): 60000 train + 10000 test images, SHA-256 verified`,
    );
  });

  it('selects the backend TFJS_DDP_BACKEND names when --backend is not given, and refuses an unknown one', async () => {
    const r = await run(['info', '--json'], { ...env, TFJS_DDP_BACKEND: 'cpu' });
    expect((JSON.parse(r.stdout) as InfoReport).backend).toMatchObject({ requested: 'cpu', chosen: 'cpu' });
    const bad = await run(['info'], { ...env, TFJS_DDP_BACKEND: 'tpu' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      'E_CONFIG: environment variable TFJS_DDP_BACKEND must be one of auto, tensorflow-gpu, webgpu, tensorflow, wasm, cpu, got "tpu"',
    );
  });

  it('says when the directory came from TFJS_DDP_DATA_DIR, and that it has no dataset', async () => {
    const r = await run(['info', '--backend', 'cpu'], { ...env, TFJS_DDP_DATA_DIR: '/nonexistent' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('/nonexistent');
  });

  it('exits 1 with the data error naming the directory when --data-dir has no dataset', async () => {
    const r = await run(['info', '--data-dir', '/nonexistent'], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('data:    unavailable (E_DATA_NOT_FOUND, see below)');
    expect(r.stdout).toMatch(/^model: +DenseNet, 758,226 trainable parameters/m);
    expect(r.stderr).toMatch(
      /^tfjs-ddp: E_DATA_NOT_FOUND: \/nonexistent \(from --data-dir\) has no train-images-idx3-ubyte/,
    );
  });

  it('says which backend auto chose and why each better one was skipped', async () => {
    const r = await run(['info', '--json', '--data-dir', '/nonexistent'], env);
    const { backend } = JSON.parse(r.stdout) as InfoReport;
    expect(backend.requested).toBe('auto');
    const order = ['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'];
    expect(backend.skipped.map((s) => s.backend)).toEqual(order.slice(0, order.indexOf(backend.chosen)));
    for (const s of backend.skipped) expect(s.reason).toMatch(/^E_(BACKEND|GPU_UNAVAILABLE): /);
  });
});
