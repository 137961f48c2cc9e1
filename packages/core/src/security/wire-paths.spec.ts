// Names and paths from the wire: the model-file allow-list, names that must stay inside their
// directory, and the ipc:// socket a worker may be told to bind.
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeDirAtomically } from '../fs/atomic-dir';
import { checkIpcBindAddress, checkWireFileNames, MODEL_FILE_NAMES, resolveInside } from './wire-paths';

describe('names and paths from the wire', () => {
  it('accepts the model files a worker saves, each once, and nothing else', () => {
    expect(
      checkWireFileNames(
        ['model.json', 'weights.bin', 'optimizer.json', 'optimizer.bin', 'meta.json'],
        'rank 0',
      ),
    ).toEqual([...MODEL_FILE_NAMES]);
    expect(checkWireFileNames([], 'rank 0')).toEqual([]);
    for (const bad of [
      '../../evil.txt',
      '/etc/passwd',
      'model.json/../x',
      'state.bin',
      'manifest.json',
      'Model.json',
      '',
      '..',
      'model.json\0',
      7,
      null,
    ]) {
      expect(() => checkWireFileNames(['model.json', bad], 'rank 0 (pid 42)'), String(bad)).toThrow(
        /^E_PROTOCOL: rank 0 \(pid 42\) sent a model file named .*: not one of model\.json, weights\.bin, optimizer\.json, optimizer\.bin, meta\.json; nothing was written/,
      );
    }
    expect(() => checkWireFileNames(['weights.bin', 'weights.bin'], 'rank 0')).toThrow(
      /rank 0 sent the model file weights\.bin twice/,
    );
  });

  it('resolves a plain name to a direct child of its directory, and refuses any name that leads elsewhere', () => {
    expect(resolveInside('/runs/r/model', 'weights.bin', 'rank 0')).toBe('/runs/r/model/weights.bin');
    expect(resolveInside('/runs/r/model/', 'a..b', 'rank 0')).toBe('/runs/r/model/a..b');
    for (const bad of [
      '../x',
      '../../etc/cron.d/x',
      '/etc/passwd',
      'sub/file',
      '..',
      '.',
      '',
      'a\\b',
      'x\0y',
    ]) {
      expect(() => resolveInside('/runs/r/model', bad, 'rank 0'), bad).toThrow(
        /^E_PROTOCOL: rank 0 gave the file name .* which is not a plain name inside \/runs\/r\/model; nothing was written/,
      );
    }
  });

  it('writes nothing at all when one name of a model directory would lead outside it', () => {
    const root = mkdtempSync(join(tmpdir(), 'tfjs-ddp-wire-'));
    const run = join(root, 'run');
    expect(() =>
      writeDirAtomically(join(run, 'model'), { 'model.json': '{}', '../../escaped.txt': 'x' }),
    ).toThrow(/E_PROTOCOL: a model file gave the file name "\.\.\/\.\.\/escaped\.txt"/);
    expect(existsSync(join(root, 'escaped.txt'))).toBe(false);
    expect(existsSync(run) ? readdirSync(run) : []).toEqual([]);
    expect(writeDirAtomically(join(run, 'model'), { 'model.json': '{}' })).toEqual([
      join(run, 'model', 'model.json'),
    ]);
  });

  it("lets a worker bind only ring-N sockets in the run's socket directory (the directory of its ipc:// --join)", () => {
    const join = 'ipc:///tmp/tfjs-ddp-abc123/control';
    expect(checkIpcBindAddress('ipc:///tmp/tfjs-ddp-abc123/ring-0', join)).toBe(
      'ipc:///tmp/tfjs-ddp-abc123/ring-0',
    );
    expect(checkIpcBindAddress('ipc:///tmp/tfjs-ddp-abc123/ring-17', join)).toBe(
      'ipc:///tmp/tfjs-ddp-abc123/ring-17',
    );
    // Nothing is unlinked for these: they pass whatever the join address.
    expect(checkIpcBindAddress('tcp://10.0.0.2:0', 'tcp://10.0.0.1:29500')).toBe('tcp://10.0.0.2:0');
    expect(checkIpcBindAddress('inproc://t-ring-0', 'inproc://t-control')).toBe('inproc://t-ring-0');
    const outside = [
      'ipc:///home/user/.bashrc',
      'ipc:///tmp/tfjs-ddp-abc123/../victim',
      'ipc:///tmp/tfjs-ddp-abc123/sub/ring-0',
      'ipc:///tmp/tfjs-ddp-abc124/ring-0',
      'ipc://ring-0',
      'ipc:///tmp/tfjs-ddp-abc123/control',
      'ipc:///tmp/tfjs-ddp-abc123/owner.pid',
    ];
    for (const a of outside)
      expect(() => checkIpcBindAddress(a, join), a).toThrow(
        /^E_PROTOCOL: the coordinator asked this worker to bind .*: not a ring-N socket in the run's socket directory \/tmp\/tfjs-ddp-abc123/,
      );
    expect(() => checkIpcBindAddress('ipc:///tmp/x/ring-0', 'tcp://10.0.0.1:29500')).toThrow(
      /^E_PROTOCOL: the coordinator at tcp:\/\/10\.0\.0\.1:29500 asked this worker to bind ipc:\/\/\/tmp\/x\/ring-0: a worker that joins over tcp binds no ipc:\/\/ socket it is told to/,
    );
  });
});
