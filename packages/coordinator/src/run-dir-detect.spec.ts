// Specs of run-dir-detect.ts: which directories are runs, by the content of their files.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configToFile, DEFAULT_TRAIN_CONFIG } from '@tfjs-ddp/core';
import { isRunDir, requireRunConfig, runFileVerdicts } from './run-dir-detect';

const tmp = () => mkdtempSync(join(tmpdir(), 'tfjs-ddp-detect-'));

/** A directory holding `files` (name → text). */
function dirWith(files: Record<string, string>): string {
  const dir = tmp();
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const runConfig = JSON.stringify(configToFile(DEFAULT_TRAIN_CONFIG), null, 2);

describe('isRunDir', () => {
  it("does not take a web project's config.json, or an empty directory, for a run", () => {
    const web = dirWith({ 'config.json': '{"name":"my webapp"}', 'report.html': 'mine' });
    expect(isRunDir(web)).toBe(false);
    expect(runFileVerdicts(web)).toEqual({
      'config.json': "lacks the settings a run's config.json holds (preset, lr, momentum, …)",
      'summary.json': 'absent',
      'metrics.jsonl': 'absent',
    });
    expect(isRunDir(tmp())).toBe(false);
    expect(isRunDir(join(tmp(), 'nope'))).toBe(false);
  });

  it('does not take a short --config file named config.json for a run', () => {
    expect(isRunDir(dirWith({ 'config.json': '{"lr":0.05,"batch_size":64,"epochs":3}' }))).toBe(false);
  });

  it('takes a config.json as tfjs-ddp writes it, also one of an old run with camelCase keys', () => {
    expect(isRunDir(dirWith({ 'config.json': runConfig }))).toBe(true);
    expect(isRunDir(dirWith({ 'config.json': JSON.stringify(DEFAULT_TRAIN_CONFIG) }))).toBe(true);
  });

  it('takes a summary.json with a status and steps, or a metrics.jsonl of time and event lines, alone', () => {
    expect(isRunDir(dirWith({ 'summary.json': '{"status":"failed","steps":0}' }))).toBe(true);
    expect(isRunDir(dirWith({ 'summary.json': '{"status":"ok"}' }))).toBe(false);
    const line = JSON.stringify({ time: '2026-11-25T19:30:12.000Z', event: 'start', workers: [] });
    expect(isRunDir(dirWith({ 'metrics.jsonl': `${line}\n{"time":"2026-11-25T19:3` }))).toBe(true);
    expect(isRunDir(dirWith({ 'metrics.jsonl': '{"level":30,"msg":"hello"}\n' }))).toBe(false);
  });
});

describe('requireRunConfig', () => {
  it('names a directory that does not exist, is a file, has no config.json or not one tfjs-ddp wrote', () => {
    const root = tmp();
    const hint = /; pass the directory of the run to continue .*, or leave --resume out to start a new run$/;
    expect(() => requireRunConfig(join(root, 'nope'), '--resume')).toThrow(
      new RegExp(`^E_CONFIG: --resume ${join(root, 'nope')}: no such directory;`),
    );
    writeFileSync(join(root, 'file'), '');
    expect(() => requireRunConfig(join(root, 'file'), '--resume')).toThrow(
      /--resume .*file is a file, not a run directory/,
    );
    mkdirSync(join(root, 'empty'));
    expect(() => requireRunConfig(join(root, 'empty'), '--resume')).toThrow(
      new RegExp(
        `^E_CONFIG: --resume ${join(root, 'empty')} is not a run directory: it has no config\\.json;`,
      ),
    );
    expect(() => requireRunConfig(join(root, 'empty'), '--resume')).toThrow(hint);
    const web = dirWith({ 'config.json': '{"name":"my webapp"}' });
    expect(() => requireRunConfig(web, '--resume')).toThrow(
      /is not a run directory: its config\.json lacks the settings/,
    );
    expect(() => requireRunConfig(dirWith({ 'config.json': runConfig }), '--resume')).not.toThrow();
  });
});
