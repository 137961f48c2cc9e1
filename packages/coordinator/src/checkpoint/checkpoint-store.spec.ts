import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeTrainingState, encodeTrainingState, nonSnakeCaseKeys, type TrainingState } from '@tfjs-ddp/core';
import { loopCheckpointFromJson, loopCheckpointToJson } from '../run-documents';
import type { LoopCheckpoint } from './loop-checkpoint';
import { CheckpointStore } from './checkpoint-store';

const bytes = (s: string) => new TextEncoder().encode(s);
const files = (step: number) => ({ 'loop.json': bytes(`{"step":${step}}`), 'state.bin': new Uint8Array(1000).fill(step) });
const at = (step: number) => ({ step, epoch: 1, batchInEpoch: step });
const tmp = () => mkdtempSync(join(tmpdir(), 'tfjs-ddp-ckpt-'));

describe('CheckpointStore', () => {
  it('writes each checkpoint whole, with its manifest, reads the newest back and keeps the last two', () => {
    const run = tmp();
    const store = new CheckpointStore(run, 2);
    for (const s of [1, 2, 3]) store.write(files(s), at(s));
    expect(store.names()).toEqual(['step-00000003', 'step-00000002']);
    expect(readdirSync(store.root).filter((n) => n.startsWith('.tmp'))).toEqual([]);
    const latest = store.latest()!;
    expect(latest.manifest).toMatchObject({ format: 'tfjs-ddp-checkpoint/1', step: 3, epoch: 1, batch_in_epoch: 3 });
    expect(latest.manifest.files.map((f) => f.name)).toEqual(['loop.json', 'state.bin']);
    expect(latest.files['state.bin']).toEqual(files(3)['state.bin']);
  });

  it('skips a checkpoint whose file was altered, truncated or whose manifest is missing, naming it, and takes the previous one', () => {
    const run = tmp();
    const store = new CheckpointStore(run, 5);
    for (const s of [1, 2, 3, 4]) store.write(files(s), at(s));
    writeFileSync(join(store.root, 'step-00000004', 'state.bin'), new Uint8Array(1000).fill(9));
    truncateSync(join(store.root, 'step-00000003', 'state.bin'), 10);
    unlinkSync(join(store.root, 'step-00000002', 'manifest.json'));
    const skipped: string[] = [];
    const latest = store.latest((dir, why) => skipped.push(`${dir.split('/').pop()}: ${why}`));
    expect(latest!.manifest.step).toBe(1);
    expect(skipped).toHaveLength(3);
    expect(skipped[0]).toMatch(/^step-00000004: E_CHECKPOINT: .*step-00000004\/state\.bin has sha256 [0-9a-f]{12}…, the manifest says/);
    expect(skipped[1]).toMatch(/^step-00000003: E_CHECKPOINT: .*state\.bin has 10 bytes, the manifest says 1000 \(truncated\?\)/);
    expect(skipped[2]).toMatch(/^step-00000002: E_CHECKPOINT: .*manifest\.json is missing: the checkpoint was not finished/);
  });

  it('writes snake_case loop.json, state.json and manifest.json, and still loads a checkpoint written before with camelCase ones', () => {
    const loop: LoopCheckpoint = {
      step: 5, epoch: 2, batchInEpoch: 1, epochSums: { lossSum: 2.5, correct: 7, count: 16, ms: 120, skipped: 0 }, trainMs: 900, trainSamples: 96, epochsCompleted: 1,
      last: { loss: 0.5, acc: 0.75 }, testAcc: 0.6, globalBatch: 16, capacities: [8, 8], microBatches: [8, 4], backoffs: [{ event: 'oom', step: 3, rank: 1, old_micro_batch: 8, new_micro_batch: 4 }], restarts: 1, skippedSteps: 0, skippedInARow: 0,
    };
    const state: TrainingState = { checksum: 'c0ffee', weights: Float32Array.from([1, 2]), batchNorm: Float32Array.from([3]), optimizer: [{ name: 'm', shape: [2], data: Float32Array.from([4, 5]) }] };
    const { json, bin } = encodeTrainingState(state);
    // As written now.
    const run = tmp();
    const store = new CheckpointStore(run);
    const dir = store.write({ 'loop.json': bytes(JSON.stringify(loopCheckpointToJson(loop))), 'state.json': bytes(json), 'state.bin': bin }, { step: 5, epoch: 2, batchInEpoch: 1 });
    for (const f of ['loop.json', 'state.json', 'manifest.json']) expect(nonSnakeCaseKeys(JSON.parse(readFileSync(join(dir, f), 'utf8'))), f).toEqual([]);
    // As a checkpoint of an older version wrote them: camelCase keys (the manifest's digests are of the files as they are).
    const oldLoop = JSON.stringify(loop); // what train-loop.ts wrote: the LoopCheckpoint itself
    const oldState = json.replace('"batch_norm"', '"batchNorm"');
    const old = new CheckpointStore(tmp());
    const oldDir = old.write({ 'loop.json': bytes(oldLoop), 'state.json': bytes(oldState), 'state.bin': bin }, { step: 5, epoch: 2, batchInEpoch: 1 });
    const manifest = readFileSync(join(oldDir, 'manifest.json'), 'utf8').replace('"batch_in_epoch"', '"batchInEpoch"');
    expect(manifest).toContain('"batchInEpoch": 1');
    writeFileSync(join(oldDir, 'manifest.json'), manifest);
    for (const [s, d] of [[store, dir], [old, oldDir]] as const) {
      const ck = s.latest((where, why) => expect.fail(`${where}: ${why}`))!;
      expect(ck.dir).toBe(d);
      expect(ck.manifest).toMatchObject({ step: 5, epoch: 2, batch_in_epoch: 1 });
      const text = (n: string) => new TextDecoder().decode(ck.files[n]);
      expect(loopCheckpointFromJson(text('loop.json'), 'loop.json')).toEqual(loop);
      expect(decodeTrainingState(text('state.json'), ck.files['state.bin']!, ck.dir)).toEqual(state);
    }
  });

  it('refuses a loop.json that is not one, naming it', () => {
    expect(() => loopCheckpointFromJson('{', 'ck/loop.json')).toThrow(/E_CHECKPOINT: ck\/loop.json is not JSON/);
    expect(() => loopCheckpointFromJson('{"step":1}', 'ck/loop.json')).toThrow(/E_CHECKPOINT: ck\/loop.json is not a training loop checkpoint/);
  });

  it('finds none in a run without checkpoints', () => {
    expect(new CheckpointStore(tmp()).latest()).toBeNull();
  });

  it('fails with E_CHECKPOINT when the run directory cannot be written, and leaves the earlier checkpoint intact', () => {
    const run = tmp();
    const store = new CheckpointStore(run);
    store.write(files(1), at(1));
    // A file where the temporary directory would go: mkdir fails (ENOTDIR-like), as a broken disk would.
    const blocker = new CheckpointStore(join(run, 'checkpoints', 'step-00000001', 'loop.json'));
    expect(() => blocker.write(files(2), at(2))).toThrow(/E_CHECKPOINT: cannot write checkpoint step-00000002 .*\((ENOTDIR|EEXIST)/);
    expect(store.latest()!.manifest.step).toBe(1);
  });

  // A real full disk: a 256 KiB tmpfs (root only, as in CI).
  const canMount = (() => {
    if (process.getuid?.() !== 0) return false;
    const probe = tmp();
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', probe], { stdio: 'ignore' });
      execFileSync('umount', [probe], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    } finally {
      rmSync(probe, { recursive: true, force: true });
    }
  })();

  it.runIf(canMount)('on a full disk says so, removes its partial files and keeps the previous checkpoint', () => {
    const run = tmp();
    mkdirSync(run, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', run]);
    try {
      const store = new CheckpointStore(run, 2);
      store.write({ 'state.bin': new Uint8Array(100_000) }, at(1));
      expect(() => store.write({ 'state.bin': new Uint8Array(200_000) }, at(2))).toThrow(/^E_DISK_FULL: no space left to write checkpoint step-00000002 in .*checkpoints \(ENOSPC\); the previous checkpoint step-00000001 is intact; free space on that file system/);
      expect(store.names()).toEqual(['step-00000001']);
      expect(store.latest()!.manifest.step).toBe(1);
      expect(readdirSync(store.root).filter((n) => n.startsWith('.tmp'))).toEqual([]);
    } finally {
      execFileSync('umount', [run]);
    }
    expect(existsSync(run)).toBe(true);
  });
});
