// The GPU code path end to end: the real `tfjs-ddp` binary with --backend webgpu. Here and in CI the
// adapter is Mesa's lavapipe (a software Vulkan device; .ci/run installs mesa-vulkan-drivers ≥ 25),
// so every test runs the same WebGPU backend, device, error scopes and async reads a GPU runs. The
// suite fails when no adapter can be opened, unless TFJS_DDP_SKIP_WEBGPU=1 says to skip it.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { openAdapter } from '@tfjs-ddp/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { readJson, readJsonLines, repoRoot, runCli, tmp } from './support/spawn-cli';

const skip = process.env['TFJS_DDP_SKIP_WEBGPU'] === '1';

let data: string;
const common = () => ['--data-dir', data, '--verify-data', 'false', '--resize', '32', '--epochs', '1'];

const stepLosses = (runDir: string) => readJsonLines(join(runDir, 'metrics.jsonl')).filter((m) => m['event'] === 'step').map((m) => m['loss'] as number);

describe.skipIf(skip)('the webgpu backend (lavapipe here)', () => {
  beforeAll(async () => {
    // Fails the suite with the product's own message (what to install) when there is no adapter.
    const { description } = await openAdapter();
    expect(description.description).not.toBe('');
    data = tmp('webgpu-data');
    await writeSyntheticFashionMnist(data, { train: 64, test: 16, seed: 3 });
  });

  it('trains with the same per-step losses as wasm for the same seed, and exports a model that evaluates the same', async () => {
    // 4 steps of 16 = one epoch of the 64 samples: the epoch's evaluation and checkpoint run too.
    const args = [...common(), '--workers', '1', '--batch-size', '16', '--micro-batch', '16', '--max-steps', '4'];
    const [wasmDir, gpuDir] = [join(tmp('wasm'), 'r'), join(tmp('webgpu'), 'r')];
    const wasm = await runCli(['train', ...args, '--backend', 'wasm', '--run-dir', wasmDir]);
    expect(wasm.code, wasm.stderr).toBe(0);
    const gpu = await runCli(['train', ...args, '--backend', 'webgpu', '--run-dir', gpuDir]);
    expect(gpu.code, gpu.stderr).toBe(0);
    const [a, b] = [stepLosses(wasmDir), stepLosses(gpuDir)];
    expect(b).toHaveLength(4);
    // Step 1 (before any update) differs only by float summation order: measured 2e-7 relative.
    expect(Math.abs(b[0]! - a[0]!) / a[0]!).toBeLessThan(1e-5);
    // Then the kernels' float differences (each within 1e-4 of the naive loops) grow with every
    // update at lr 0.1 on 16 samples. Measured relative differences at steps 2, 3, 4: 1.7e-6, 4.3e-3,
    // 3.5e-3 (with tfjs' stock webgpu conv gradients: 1.8e-6, 8.2e-5, 7.7e-3).
    expect(Math.abs(b[1]! - a[1]!) / a[1]!).toBeLessThan(1e-4);
    for (const i of [2, 3]) expect(Math.abs(b[i]! - a[i]!) / a[i]!).toBeLessThan(2e-2);
    const summary = readJson(join(gpuDir, 'summary.json'));
    expect(summary).toMatchObject({ status: 'completed', backend: 'webgpu', device: 'gpu', workers: 1 });
    expect((summary['adapter_per_rank'] as { software: boolean }[])[0]).toMatchObject({ software: true });
    const log = readJsonLines(join(gpuDir, 'train.log'));
    expect(log.some((l) => l['level'] === 50)).toBe(false);
    expect(existsSync(join(gpuDir, 'checkpoints', 'step-00000004', 'manifest.json'))).toBe(true);
    // The exported model, evaluated on webgpu by `tfjs-ddp eval`, scores what the run reported.
    const ev = await runCli(['eval', '--model', join(gpuDir, 'model'), '--data-dir', data, '--verify-data', 'false', '--backend', 'webgpu', '--json']);
    expect(ev.code, ev.stderr).toBe(0);
    const report = JSON.parse(ev.stdout) as { test_acc: number; test_count: number };
    expect(report.test_count).toBe(16);
    expect(report.test_acc).toBeCloseTo(summary['test_acc'] as number, 5);
  });

  it('TFJS_DDP_WEBGPU_F16=1 runs the forward conv in float16: a first loss near wasm\'s but not float32\'s, and a warning; another value is a clear error', async () => {
    const args = [...common(), '--workers', '1', '--batch-size', '16', '--micro-batch', '16', '--max-steps', '1'];
    const [wasmDir, f16Dir] = [join(tmp('f16-wasm'), 'r'), join(tmp('f16'), 'r')];
    const wasm = await runCli(['train', ...args, '--backend', 'wasm', '--run-dir', wasmDir]);
    expect(wasm.code, wasm.stderr).toBe(0);
    const gpu = await runCli(['train', ...args, '--backend', 'webgpu', '--run-dir', f16Dir], { TFJS_DDP_WEBGPU_F16: '1' });
    expect(gpu.code, gpu.stderr).toBe(0);
    const [a, b] = [stepLosses(wasmDir)[0]!, stepLosses(f16Dir)[0]!];
    // Measured 8.3e-5 relative (float32 on webgpu: 3.8e-7): x and the filters rounded to 11 bits.
    expect(Math.abs(b - a) / a).toBeLessThan(1e-3);
    expect(Math.abs(b - a) / a).toBeGreaterThan(5e-6);
    const log = readJsonLines(join(f16Dir, 'train.log'));
    expect(log.some((l) => l['level'] === 40 && /multiplies in float16/.test(String(l['msg'])))).toBe(true);
    const bad = await runCli(['train', ...args, '--backend', 'webgpu', '--run-dir', join(tmp('f16-bad'), 'r')], { TFJS_DDP_WEBGPU_F16: 'yes' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/E_CONFIG: TFJS_DDP_WEBGPU_F16=yes: expected 1/);
  });

  it('TFJS_DDP_WEBGPU_SUBMIT_EVERY changes only when work is submitted: the same losses, bit for bit; another value is a clear error', async () => {
    const args = [...common(), '--workers', '1', '--batch-size', '16', '--micro-batch', '16', '--max-steps', '3', '--backend', 'webgpu'];
    const [stockDir, everyDir] = [join(tmp('submit-15'), 'r'), join(tmp('submit-60'), 'r')];
    const stock = await runCli(['train', ...args, '--run-dir', stockDir]);
    expect(stock.code, stock.stderr).toBe(0);
    const every = await runCli(['train', ...args, '--run-dir', everyDir], { TFJS_DDP_WEBGPU_SUBMIT_EVERY: '60' });
    expect(every.code, every.stderr).toBe(0);
    expect(stepLosses(everyDir)).toHaveLength(3);
    expect(stepLosses(everyDir)).toEqual(stepLosses(stockDir));
    const bad = await runCli(['train', ...args, '--run-dir', join(tmp('submit-bad'), 'r')], { TFJS_DDP_WEBGPU_SUBMIT_EVERY: '0' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/E_CONFIG: TFJS_DDP_WEBGPU_SUBMIT_EVERY=0 is not a whole number from 1 to 100000/);
  });

  it('TFJS_DDP_WEBGPU_CONV=mma (subgroup matrices) is refused on an adapter without them, naming it; another value is a clear error', async () => {
    const args = [...common(), '--workers', '1', '--batch-size', '16', '--max-steps', '1', '--backend', 'webgpu'];
    const mma = await runCli(['train', ...args, '--run-dir', join(tmp('mma'), 'r')], { TFJS_DDP_WEBGPU_CONV: 'mma' });
    expect(mma.code).toBe(1);
    expect(mma.stderr).toMatch(/E_GPU_UNAVAILABLE: TFJS_DDP_WEBGPU_CONV=mma, but the WebGPU adapter .* does not offer chromium-experimental-subgroup-matrix; unset TFJS_DDP_WEBGPU_CONV/);
    const bad = await runCli(['train', ...args, '--run-dir', join(tmp('conv-bad'), 'r')], { TFJS_DDP_WEBGPU_CONV: 'fast' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/E_CONFIG: TFJS_DDP_WEBGPU_CONV=fast: expected "ours" .*"tfjs" .*"mma" .* or "mma-fma"/);
  });

  it("TFJS_DDP_WEBGPU_CONV=mma-fma trains through mma's programs (FMA products, f16 tiles): a first loss near wasm's but not float32's, and a warning", async () => {
    const args = [...common(), '--workers', '1', '--batch-size', '16', '--micro-batch', '16', '--max-steps', '2'];
    const [wasmDir, fmaDir] = [join(tmp('mma-fma-wasm'), 'r'), join(tmp('mma-fma'), 'r')];
    const wasm = await runCli(['train', ...args, '--backend', 'wasm', '--run-dir', wasmDir]);
    expect(wasm.code, wasm.stderr).toBe(0);
    const gpu = await runCli(['train', ...args, '--backend', 'webgpu', '--run-dir', fmaDir], { TFJS_DDP_WEBGPU_CONV: 'mma-fma' });
    expect(gpu.code, gpu.stderr).toBe(0);
    const [a, b] = [stepLosses(wasmDir), stepLosses(fmaDir)];
    expect(b).toHaveLength(2);
    // f16 tiles in all three products of every conv but the stem's gradients. Measured: 1.1e-4
    // relative at step 1 (TFJS_DDP_WEBGPU_F16=1: 8.3e-5), 5.2e-3 at step 2, after an update with
    // f16 gradients (TFJS_DDP_WEBGPU_F16=1: 6.0e-2).
    const rel = (i: number) => Math.abs(b[i]! - a[i]!) / a[i]!;
    expect(rel(0)).toBeLessThan(1e-3);
    expect(rel(0)).toBeGreaterThan(5e-6);
    expect(rel(1)).toBeLessThan(2e-2);
    const log = readJsonLines(join(fmaDir, 'train.log'));
    expect(log.some((l) => l['level'] === 40 && /programs with FMA products, mma's numerics/.test(String(l['msg'])))).toBe(true);
    const summary = readJson(join(fmaDir, 'summary.json'));
    expect((summary['adapter_per_rank'] as { subgroupMatrix: string }[])[0]!.subgroupMatrix).toBe('none: FMA products (mma-fma)');
  });

  // Measured on lavapipe, the webgpu losses against wasm's at every step: the cnn example within 8e-8
  // (momentum SGD in one dispatch per 3 variables), the gru example within 9e-8 (2026-12-08).
  it.each([
    [
      "a user's model with momentum (the cnn example: its fused BatchNorms, the optimizer on the device)",
      'cnn-image-folder',
      ['--batch-size', '24', '--micro-batch', '24'],
    ],
    [
      "a recurrent user model (the gru example: Adam on the device, its cell through tfjs' own programs with cached bind groups)",
      'gru-sequences',
      ['--batch-size', '32', '--micro-batch', '16'],
    ],
  ] as const)("trains %s to wasm's losses", async (_what, example, batch) => {
    const dir = join(repoRoot, 'docs/examples', example);
    const args = ['--model', join(dir, 'model.mjs'), '--data', join(dir, 'data.mjs'), '--workers', '1', ...batch, '--max-steps', '6'];
    const [wasmDir, gpuDir] = [join(tmp(`${example}-wasm`), 'r'), join(tmp(`${example}-webgpu`), 'r')];
    const wasm = await runCli(['train', ...args, '--backend', 'wasm', '--run-dir', wasmDir]);
    expect(wasm.code, wasm.stderr).toBe(0);
    const gpu = await runCli(['train', ...args, '--backend', 'webgpu', '--run-dir', gpuDir]);
    expect(gpu.code, gpu.stderr).toBe(0);
    const [a, b] = [stepLosses(wasmDir), stepLosses(gpuDir)];
    expect(b).toHaveLength(6);
    b.forEach((loss, i) => expect(Math.abs(loss - a[i]!) / a[i]!).toBeLessThan(1e-5));
  });

  it("trains bit for bit as tfjs' own buffer pool does, in micro-batches of two sizes (12 and 4)", async () => {
    // The planned pool (docs/gpu.md, "Memory") hands tensors other, and larger, buffers than tfjs'
    // pool: neither the losses nor the weights may change by a bit.
    const args = [...common(), '--workers', '1', '--batch-size', '16', '--micro-batch', '12', '--max-steps', '3', '--backend', 'webgpu'];
    const [tfjsDir, plannedDir] = [join(tmp('pool-tfjs'), 'r'), join(tmp('pool-planned'), 'r')];
    const a = await runCli(['train', ...args, '--run-dir', tfjsDir], { TFJS_DDP_WEBGPU_BUFFERS: 'tfjs' });
    expect(a.code, a.stderr).toBe(0);
    const b = await runCli(['train', ...args, '--run-dir', plannedDir]);
    expect(b.code, b.stderr).toBe(0);
    expect(stepLosses(plannedDir)).toHaveLength(3);
    expect(stepLosses(plannedDir)).toEqual(stepLosses(tfjsDir));
    const sums = (dir: string) => readJson(join(dir, 'summary.json'))['weights_checksum_per_rank'] as string[];
    expect(sums(plannedDir)).toHaveLength(1);
    expect(sums(plannedDir)).toEqual(sums(tfjsDir));
  });

  it('refuses two local ranks on one adapter without --share-gpu, naming the ranks and the cure', async () => {
    const r = await runCli(['train', ...common(), '--backend', 'webgpu', '--workers', '2', '--batch-size', '16', '--micro-batch', '8', '--max-steps', '1', '--run-dir', join(tmp('shared'), 'r')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ranks 0 and 1 on .+ both run on the GPU adapter "llvmpipe[^"]*".*pass --share-gpu/);
  });

  it('runs 2 workers on one adapter with --share-gpu: a GPU out-of-memory is replayed, a lost device replaced, and the ranks stay identical', async () => {
    const runDir = join(tmp('share'), 'r');
    const r = await runCli(
      ['train', ...common(), '--backend', 'webgpu', '--workers', '2', '--share-gpu', '--batch-size', '16', '--micro-batch', '8', '--max-steps', '4', '--run-dir', runDir],
      { TFJS_DDP_INJECT_GPU_OOM: '1:2', TFJS_DDP_INJECT_DEVICE_LOST: '1:3' },
    );
    expect(r.code, r.stderr).toBe(0);
    const summary = readJson(join(runDir, 'summary.json'));
    expect(summary).toMatchObject({ status: 'completed', backend: 'webgpu', workers: 2, steps: 4, global_batch: 16, oom_events: 2, restarts: 1, micro_batch_per_rank: [8, 2] });
    const sums = summary['weights_checksum_per_rank'] as string[];
    expect(sums).toHaveLength(2);
    expect(sums[1]).toBe(sums[0]);
    expect((summary['adapter_per_rank'] as unknown[]).length).toBe(2);
    // Step 2: rank 1's micro-batch halved, the same samples replayed. Step 3: its device was
    // destroyed (a real WebGPU device loss): a new process for rank 1, re-synced, the step replayed.
    expect(summary['oom_backoffs']).toEqual([
      expect.objectContaining({ rank: 1, step: 2, old_micro_batch: 8, new_micro_batch: 4, accumulation: 2, restarted: false, reason: expect.stringMatching(/GPU out of memory: injected/) }),
      expect.objectContaining({ rank: 1, step: 3, old_micro_batch: 4, new_micro_batch: 2, restarted: true, reason: expect.stringMatching(/WebGPU device lost \(destroyed/) }),
    ]);
    expect(readJsonLines(join(runDir, 'metrics.jsonl')).filter((m) => m['event'] === 'step').map((m) => m['samples'])).toEqual([16, 16, 16, 16]);
    expect(existsSync(join(runDir, 'checkpoints', 'step-00000004', 'manifest.json'))).toBe(true);
  });

  it('names what to install when Vulkan has no driver', async () => {
    const r = await runCli(['info', '--backend', 'webgpu'], { VK_DRIVER_FILES: '/nonexistent.json', VK_ICD_FILENAMES: '/nonexistent.json' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_GPU_UNAVAILABLE: WebGPU found no usable Vulkan adapter.*libvulkan1.*mesa-vulkan-drivers ≥ 25/);
  });

  it('searches the micro-batch on webgpu within --memory-budget, and asks for one on a software adapter', async () => {
    const none = await runCli(['find-batch', '--backend', 'webgpu', '--resize', '32']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/E_MEMORY: the WebGPU adapter is a software one .*pass --memory-budget/);
    const r = await runCli(['find-batch', '--backend', 'webgpu', '--resize', '32', '--memory-budget', '80MiB', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { backend: string; micro_batch: number; budget_bytes: number; trials: { micro_batch: number; peak_bytes: number | null; ran: boolean }[] };
    expect(report.backend).toBe('webgpu');
    expect(report.budget_bytes).toBe(80 * 2 ** 20);
    expect(report.trials.length).toBeGreaterThanOrEqual(2);
    // The trials measured the GPU bytes allocated, and the chosen micro-batch ran within budget.
    const chosen = report.trials.find((t) => t.ran && t.micro_batch === report.micro_batch);
    expect(chosen?.peak_bytes).toBeGreaterThan(0);
    expect(chosen!.peak_bytes!).toBeLessThanOrEqual(80 * 2 ** 20);
    // Even the smaller probe (36 samples, ~136 MB) is over 80 MiB: the search measures 1 and tries
    // what the line through both predicts (16 here), instead of settling for 1.
    expect(report.micro_batch).toBeGreaterThan(8);
  });
});
