// Out-of-memory recovery keeps the maths: a run in which one rank runs out of memory at a chosen step
// (the step is aborted on every rank and replayed with a smaller micro-batch there) ends with the
// same weights as a run without the failure. Real worker code and the real coordinator protocol
// (rendezvous, ring all-reduce with the abort flag, replay), two ranks in this process over the
// in-process transport. The model is the DenseNet without BatchNorm, whose gradient does not depend
// on the micro-batch (BatchNorm's batch statistics would, by design).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InProcessTransport, resolveTrainConfig } from '@tfjs-ddp/core';
import { RemoteWorkerGroup, RunDir, runTrainLoop, type RunSummary } from '@tfjs-ddp/coordinator';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { runWorkerProcess, selectBackend } from '@tfjs-ddp/worker';
import { pino } from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { tmp } from './support/spawn-cli';

let data: string;
const silent = pino({ level: 'silent' });

beforeAll(async () => {
  await selectBackend('wasm'); // once, before the two ranks of this process ask for it at the same time
  data = tmp('data');
  await writeSyntheticFashionMnist(data, { train: 96, test: 16, seed: 3 });
});

/** Largest absolute difference, and that relative to the largest reference value. */
function maxErr(x: Float32Array, ref: Float32Array): { absolute: number; relative: number } {
  let num = 0;
  let den = 1e-30;
  for (let i = 0; i < ref.length; i++) {
    num = Math.max(num, Math.abs(x[i]! - ref[i]!));
    den = Math.max(den, Math.abs(ref[i]!));
  }
  return { absolute: num, relative: num / den };
}

async function train(tag: string, env: Record<string, string>): Promise<{ summary: RunSummary; weights: Float32Array }> {
  const { config } = resolveTrainConfig({
    flags: { resize: '32', batchSize: '24', microBatch: '8', epochs: '1', maxSteps: '3', backend: 'wasm', momentum: '0.9', dataDir: data, verifyData: 'false', seed: '2' },
  });
  const transport = new InProcessTransport();
  const server = await transport.server(`inproc://${tag}-control`);
  const start = (rank: number, e: Record<string, string>) =>
    runWorkerProcess({ join: `inproc://${tag}-control`, transport, version: 'test', log: silent, requestedRank: rank, localRank: rank, env: e, dataDir: data });
  const workers = [0, 1].map((rank) => start(rank, env));
  const group = await RemoteWorkerGroup.rendezvous({
    server,
    worldSize: 2,
    settingsFor: (r) => ({
      lr: config.lr, momentum: config.momentum, resize: config.resize, pool: config.pool, seed: config.seed,
      batchSize: config.batchSize, microBatch: config.microBatch, memoryBudget: null, memoryMargin: 0.05, batchNorm: false,
      backend: 'wasm', dataDir: data, verifyData: false, dataAddress: `inproc://${tag}-ring-${r}`, allreduceTimeoutMs: 60_000, logLevel: 'silent',
    }),
    version: 'test',
    log: silent,
    rendezvousTimeoutMs: 60_000,
    stepTimeoutMs: 60_000,
    checksumEvery: 1,
    // A "process" here is a runWorkerProcess call: the replacement joins like a new process would.
    respawn: async (rank) => {
      await workers[rank];
      workers[rank] = start(rank, {});
    },
  });
  const runDir = new RunDir(join(tmp(tag), 'run'));
  const summary = await runTrainLoop({ config, group, runDir, log: silent });
  await group.close();
  await Promise.all(workers);
  await server.close();
  const bin = readFileSync(join(runDir.path, 'model', 'weights.bin'));
  return { summary, weights: new Float32Array(bin.buffer, bin.byteOffset, bin.byteLength / 4) };
}

describe('out-of-memory replay', () => {
  it('gives the weights of a run without the failure (relative error < 1e-5)', async () => {
    const clean = await train('clean', {});
    const failed = await train('oom', { TFJS_DDP_INJECT_OOM: '1:2,0:3' });
    expect(clean.summary.oom_events).toBe(0);
    expect(failed.summary).toMatchObject({ steps: 3, oom_events: 2, micro_batch_per_rank: [4, 4] });
    expect(failed.summary.steps).toBe(clean.summary.steps);
    expect(failed.weights.length).toBe(clean.weights.length);
    const err = maxErr(failed.weights, clean.weights);
    expect(err.relative).toBeLessThan(1e-5);
    expect(err.absolute).toBeGreaterThan(0); // the replays really ran with other micro-batches (a different summation order)
  });

  it('a rank replaced after a backend crash continues from the others\' weights and momentum: same weights as a clean run', async () => {
    const clean = await train('clean2', {});
    const crashed = await train('crash', { TFJS_DDP_INJECT_CRASH: '1:2' });
    expect(crashed.summary).toMatchObject({ steps: 3, restarts: 1, oom_events: 1 });
    expect(maxErr(crashed.weights, clean.weights).relative).toBeLessThan(1e-5);
  });
});
