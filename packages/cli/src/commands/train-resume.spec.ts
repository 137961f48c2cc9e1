// Specs of the checks `train --resume RUN_DIR` makes before any work (runFromValues, loadResume in
// train.ts): a directory that is no run, another --run-dir, a run without a checkpoint.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configToFile, DEFAULT_TRAIN_CONFIG } from '@tfjs-ddp/core';
import { run } from '../test-io';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'tfjs-ddp-resume-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** A run that failed before its first checkpoint: its config.json and summary.json, no checkpoints/. */
function failedRun(): string {
  const dir = join(root, 'dd3');
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(configToFile(DEFAULT_TRAIN_CONFIG)));
  writeFileSync(join(dir, 'summary.json'), JSON.stringify({ status: 'failed', steps: 0 }));
  return dir;
}

describe('train --resume', () => {
  it('says that a directory without config.json is not a run directory, never naming --config', async () => {
    const dir = join(root, 'notarun');
    mkdirSync(dir);
    const r = await run(['train', '--resume', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `tfjs-ddp: E_CONFIG: --resume ${dir} is not a run directory: it has no config.json; pass the directory of the run to continue (runs/<timestamp>; tfjs-ddp runs lists them), or leave --resume out to start a new run\n`,
    );
    const missing = await run(['train', '--resume', join(root, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`E_CONFIG: --resume ${join(root, 'nope')}: no such directory;`);
    expect(missing.stderr + r.stderr).not.toContain('--config');
  });

  it("refuses a directory whose config.json is not a run's", async () => {
    const dir = join(root, 'web');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), '{"name":"my webapp"}');
    const r = await run(['train', '--resume', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `E_CONFIG: --resume ${dir} is not a run directory: its config.json lacks the settings`,
    );
  });

  it('refuses --run-dir naming another directory with E_USAGE, and writes nowhere', async () => {
    const dir = failedRun();
    const other = join(root, 'other');
    const r = await run(['train', '--resume', dir, '--run-dir', other]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `tfjs-ddp: E_USAGE: --resume ${dir} and --run-dir ${other} name different directories; a resumed run goes on in its own directory: leave --run-dir out (or --resume, to start a new run in --run-dir)\n`,
    );
    expect(readdirSync(root)).toEqual(['dd3']);
    // The same directory, spelled otherwise, is no conflict: the run's own checks come next.
    const same = await run(['train', '--resume', dir, '--run-dir', `${dir}/`]);
    expect(same.stderr).not.toContain('E_USAGE');
  });

  it('for a run that stopped before its first checkpoint, suggests starting it anew with --overwrite, not --resume', async () => {
    const dir = failedRun();
    const r = await run(['train', '--resume', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `tfjs-ddp: E_CHECKPOINT: ${join(dir, 'checkpoints')} holds no usable checkpoint (the run stopped before its first checkpoint: summary.json and train.log say why); ` +
        `start the run anew: tfjs-ddp train --config ${join(dir, 'config.json')} --run-dir ${dir} --overwrite moves this run's files to dd3.old-<time> beside it (nothing is deleted), or pass another --run-dir\n`,
    );
  });

  it('warns that TFJS_DDP_RUN_DIR naming another directory is not used by a resume', async () => {
    const dir = failedRun();
    const r = await run(['train', '--resume', dir], { TFJS_DDP_RUN_DIR: join(root, 'other') });
    expect(r.stderr).toContain(
      `tfjs-ddp: warning: TFJS_DDP_RUN_DIR=${join(root, 'other')} is not used: --resume ${dir} goes on in its own directory\n`,
    );
    const same = await run(['train', '--resume', dir], { TFJS_DDP_RUN_DIR: dir });
    expect(same.stderr).not.toContain('warning');
  });

  it('refuses a new run in that directory naming --overwrite and another --run-dir, not --resume', async () => {
    const dir = failedRun();
    const r = await run(['train', '--run-dir', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `E_CONFIG: run directory ${dir} is not empty (config.json, summary.json): it holds a run that stopped before its first checkpoint, so there is nothing to --resume;`,
    );
    expect(r.stderr).toContain(
      'or add --overwrite to move its content to dd3.old-<time> beside it (nothing is deleted)',
    );
    expect(r.stderr).not.toContain(`--resume ${dir}`);
  });
});
