// Issue 20, silent data corruption, through the real binary on wasm: a rank whose gradient is finite
// but wrong (TFJS_DDP_INJECT_BITFLIP) is caught by the audit (--audit-every), which names it; ranks
// whose weights differ (TFJS_DDP_INJECT_WEIGHT_BITFLIP) are caught before a checkpoint is written;
// and the audit changes nothing of the maths. Rows of docs/reliability.md.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { beforeAll, describe, expect, it } from 'vitest';
import { launchedPids, running } from './support/processes';
import { readJson, readJsonLines, runCli, tmp, type Exit } from './support/spawn-cli';

let data: string;

// 160 samples, global batch 16 in one micro-batch of 8 per rank: 6 steps.
const common = () => [
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
  '16',
  '--micro-batch',
  '8',
  '--epochs',
  '1',
  '--max-steps',
  '6',
];

beforeAll(async () => {
  data = tmp('data');
  await writeSyntheticFashionMnist(data, { train: 160, test: 32, seed: 9 });
});

async function train(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ r: Exit; runDir: string }> {
  const runDir = join(tmp('sdc'), 'r');
  const r = await runCli([...common(), '--run-dir', runDir, ...args], env);
  // No worker outlives its run.
  expect(launchedPids(runDir).filter(running)).toEqual([]);
  return { r, runDir };
}

const checkpoints = (runDir: string) =>
  readdirSync(join(runDir, 'checkpoints'))
    .filter((d) => d.startsWith('step-'))
    .sort();

describe('silent data corruption', () => {
  it("a bit flip in rank 1's gradient at step 3 stops the run with E_SDC naming rank 1; no checkpoint after it", async () => {
    const { r, runDir } = await train(
      ['--audit-every', '3', '--checkpoint-every', '1', '--keep-checkpoints', '5'],
      { TFJS_DDP_INJECT_BITFLIP: '1:3' },
    );
    expect(r.code, r.stderr).toBe(1);
    const pid = launchedPids(runDir)[1]!;
    expect(r.stderr).toMatch(
      new RegExp(
        `E_SDC: rank 1 \\(pid ${pid}, host [^)]+\\) contributed a gradient at step 3 that rank 0 \\(pid \\d+, host [^)]+\\) recomputed differently \\(chunk \\d+ of 64 sums to .* a difference of 100% of its absolute sum; tolerance 0\\.100%\\); rank 1 .*most likely its device is faulty`,
      ),
    );
    expect(r.stderr).toMatch(
      /no checkpoint is written after this step; resume from the newest checkpoint \(step 2\) on hosts or GPUs other than those of rank 1: tfjs-ddp train --resume RUN_DIR/,
    );
    // The checkpoint of step 3 (due: --checkpoint-every 1) is not written; those before it are.
    expect(checkpoints(runDir)).toEqual(['step-00000001', 'step-00000002']);
    expect(readJson(join(runDir, 'summary.json'))).toMatchObject({ status: 'failed' });
    const sdc = readJsonLines(join(runDir, 'metrics.jsonl')).filter((m) => m['event'] === 'sdc');
    expect(sdc).toEqual([expect.objectContaining({ step: 3, suspects: [1] })]);
  });

  it('ranks whose weights differ are caught before the next checkpoint, and nothing is written', async () => {
    const { r, runDir } = await train(['--audit-every', '0', '--checkpoint-every', '2'], {
      TFJS_DDP_INJECT_WEIGHT_BITFLIP: '1:3',
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(
      /E_SDC: the ranks' weights differ before the checkpoint at step 4 \(rank 0 [0-9a-f]{16}, rank 1 [0-9a-f]{16}\): no majority, so which rank is wrong cannot be told; nothing was written/,
    );
    expect(checkpoints(runDir)).toEqual(['step-00000002']);
  });

  it('a clean run audited at every step ends with the weights of a run without the audit', async () => {
    const audited = await train(['--audit-every', '1']);
    const plain = await train(['--audit-every', '0']);
    for (const x of [audited, plain]) expect(x.r.code, x.r.stderr).toBe(0);
    const sums = (x: { runDir: string }) =>
      readJson(join(x.runDir, 'summary.json'))['weights_checksum_per_rank'];
    expect(sums(audited)).toEqual(sums(plain));
    const metrics = readJsonLines(join(audited.runDir, 'metrics.jsonl'));
    const audits = metrics.filter((m) => m['event'] === 'audit');
    expect(audits.map((a) => a['step'])).toEqual([1, 2, 3, 4, 5, 6]);
    // Both cross-checks each time, well within the tolerance (the same backend: identical).
    for (const a of audits)
      expect(a['checks']).toEqual([
        expect.objectContaining({ checker: 0, owner: 1 }),
        expect.objectContaining({ checker: 1, owner: 0 }),
      ]);
    for (const a of audits)
      for (const c of a['checks'] as { relative: number }[]) expect(c.relative).toBeLessThan(1e-3);
    const timings = metrics
      .filter((m) => m['event'] === 'step')
      .flatMap((m) => m['timings'] as Record<string, unknown>[]);
    expect(timings.every((t) => typeof t['audit_ms'] === 'number')).toBe(true);
    expect(readJsonLines(join(plain.runDir, 'metrics.jsonl')).some((m) => m['event'] === 'audit')).toBe(
      false,
    );
  });
});
