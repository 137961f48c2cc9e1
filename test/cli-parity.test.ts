// Data parallelism through the real binary: two worker processes that ring-all-reduce over ZeroMQ
// end with the weights of one process that accumulates the same two micro-batches itself. Each rank
// gets half of every global batch (equal capacities), and with --micro-batch = half the global batch
// the single worker computes the same halves in the same order, BatchNorm statistics included: only
// the order of float additions differs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { beforeAll, describe, expect, it } from 'vitest';
import { readJson, runCli, tmp } from './support/spawn-cli';

let data: string;

beforeAll(async () => {
  data = tmp('parity-data');
  await writeSyntheticFashionMnist(data, { train: 64, test: 16, seed: 5 });
});

/**
 * The trainable weights of a saved model, in manifest order. BatchNorm moving statistics are left
 * out: they are not trained by the gradient, and by design they differ (one worker updates them once
 * per micro-batch; two ranks once each, averaged before the save).
 */
function trainableWeights(runDir: string): Float32Array {
  const all = new Float32Array(new Uint8Array(readFileSync(join(runDir, 'model', 'weights.bin'))).buffer);
  const manifest = (JSON.parse(readFileSync(join(runDir, 'model', 'model.json'), 'utf8')) as { weightsManifest: { weights: { name: string; shape: number[] }[] }[] }).weightsManifest;
  const out: number[] = [];
  let offset = 0;
  for (const w of manifest.flatMap((g) => g.weights)) {
    const size = w.shape.reduce((a, b) => a * b, 1);
    if (!/moving_(mean|variance)/.test(w.name)) out.push(...all.subarray(offset, offset + size));
    offset += size;
  }
  expect(offset).toBe(all.length);
  return Float32Array.from(out);
}

describe('train --workers 2 against --workers 1 --micro-batch 8', () => {
  it('gives the same weights after 3 steps of 16 samples, within 1e-5', async () => {
    const common = ['train', '--data-dir', data, '--verify-data', 'false', '--backend', 'wasm', '--resize', '32', '--batch-size', '16', '--micro-batch', '8', '--max-steps', '3', '--epochs', '1'];
    const [two, one] = [join(tmp('two'), 'r'), join(tmp('one'), 'r')];
    const a = await runCli([...common, '--workers', '2', '--run-dir', two]);
    expect(a.code, a.stderr).toBe(0);
    const b = await runCli([...common, '--workers', '1', '--run-dir', one]);
    expect(b.code, b.stderr).toBe(0);
    expect(readJson(join(two, 'summary.json'))).toMatchObject({ workers: 2, steps: 3, micro_batch_per_rank: [8, 8] });
    expect(readJson(join(one, 'summary.json'))).toMatchObject({ workers: 1, steps: 3, micro_batch_per_rank: [8] });
    const [w2, w1] = [trainableWeights(two), trainableWeights(one)];
    expect(w1.length).toBe(758_226);
    expect(w2.length).toBe(w1.length);
    let maxDiff = 0;
    for (let i = 0; i < w1.length; i++) maxDiff = Math.max(maxDiff, Math.abs(w2[i]! - w1[i]!));
    // Measured: 0 (the ring adds rank 1's sum to rank 0's, as the single worker adds its second
    // micro-batch to its first). 1e-5 allows for a different reduction order on other ring sizes.
    expect(maxDiff).toBeLessThan(1e-5);
  });
});
