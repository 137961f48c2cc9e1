import { describe, expect, it } from 'vitest';
import { buildManifest, parseManifest, verifyEntry } from './manifest';
import {
  decodeTrainingState,
  digestOfState,
  encodeTrainingState,
  stateDigest,
  type TrainingState,
} from './training-state';

const state: TrainingState = {
  checksum: 'abc123',
  weights: Float32Array.from([1, 2, 3, 4.5]),
  batchNorm: Float32Array.from([0.5, -1]),
  optimizer: [{ name: 'conv/kernel/momentum', shape: [2, 1], data: Float32Array.from([7, 8]) }],
};

describe('training state encoding', () => {
  it('round-trips weights, BatchNorm statistics and optimizer slots exactly', () => {
    const { json, bin } = encodeTrainingState(state);
    expect(bin.byteLength).toBe(8 * 4);
    expect(decodeTrainingState(json, bin, 'ck')).toEqual(state);
  });

  it('writes a snake_case header, and still reads the camelCase one of a checkpoint written before', () => {
    const { json, bin } = encodeTrainingState(state);
    expect(Object.keys(JSON.parse(json) as object)).toEqual([
      'checksum',
      'weights',
      'batch_norm',
      'optimizer',
    ]);
    const old = json.replace('"batch_norm"', '"batchNorm"');
    expect(old).toContain('"batchNorm": 2');
    expect(decodeTrainingState(old, bin, 'ck')).toEqual(state);
  });

  it('refuses a binary that does not match its header, and a header that is not one', () => {
    const { json, bin } = encodeTrainingState(state);
    expect(() => decodeTrainingState(json, bin.subarray(0, 28), 'ck')).toThrow(
      /E_CHECKPOINT: ck\/state\.bin has 28 bytes, its header describes 32/,
    );
    expect(() => decodeTrainingState('{"weights":-1}', bin, 'ck')).toThrow(
      /E_CHECKPOINT: ck\/state\.json is not a training-state header/,
    );
    expect(() => decodeTrainingState('{', bin, 'ck')).toThrow(/E_CHECKPOINT: ck\/state\.json is not JSON/);
  });
});

describe('checkpoint manifest', () => {
  const files = { 'b.bin': new Uint8Array([1, 2, 3]), 'a.json': new TextEncoder().encode('{}') };

  it('lists every file with its size and SHA-256, sorted, and parses back', () => {
    const m = buildManifest(files, { step: 7, epoch: 2, batchInEpoch: 1, time: '2026-12-01T00:00:00.000Z' });
    expect(m.files.map((f) => [f.name, f.bytes])).toEqual([
      ['a.json', 2],
      ['b.bin', 3],
    ]);
    expect(m.files[1]!.sha256).toBe('039058c6f2c0cb492c533b0a4d14ef77cc0f78abccced5287d84a1a2011cfb81');
    expect(parseManifest(JSON.stringify(m), 'm')).toEqual(m);
  });

  it('writes batch_in_epoch, and still reads the batchInEpoch of a checkpoint written before', () => {
    const m = buildManifest(files, { step: 7, epoch: 2, batchInEpoch: 1, time: '2026-12-01T00:00:00.000Z' });
    const text = JSON.stringify(m, null, 1);
    expect(Object.keys(JSON.parse(text) as object)).toEqual([
      'format',
      'step',
      'epoch',
      'batch_in_epoch',
      'time',
      'files',
    ]);
    const old = text.replace('"batch_in_epoch"', '"batchInEpoch"');
    expect(old).toContain('"batchInEpoch": 1');
    expect(parseManifest(old, 'm')).toEqual(m);
    expect(() => parseManifest(old.replace('"batchInEpoch": 1', '"batchInEpoch": -1'), 'm')).toThrow(
      /not a tfjs-ddp-checkpoint\/1 manifest/,
    );
  });

  it('names the file that is missing, truncated or altered', () => {
    const [a, b] = buildManifest(files, { step: 1, epoch: 1, batchInEpoch: 0 }).files as [never, never];
    expect(() => verifyEntry(b, null, 'ck')).toThrow(/ck\/b\.bin is missing/);
    expect(() => verifyEntry(b, new Uint8Array([1, 2]), 'ck')).toThrow(
      /ck\/b\.bin has 2 bytes, the manifest says 3 \(truncated\?\)/,
    );
    expect(() => verifyEntry(b, new Uint8Array([1, 2, 4]), 'ck')).toThrow(
      /ck\/b\.bin has sha256 [0-9a-f]{12}…, the manifest says 039058c6f2c0…/,
    );
    expect(() => verifyEntry(a, files['a.json'], 'ck')).not.toThrow();
  });

  it('refuses what is not a manifest, and file names that could leave the directory', () => {
    expect(() => parseManifest('[]', 'm')).toThrow(
      /E_CHECKPOINT: m is not a tfjs-ddp-checkpoint\/1 manifest/,
    );
    const m = buildManifest(files, { step: 1, epoch: 1, batchInEpoch: 0 });
    const evil = { ...m, files: [{ ...m.files[0]!, name: '../../etc/passwd' }] };
    expect(() => parseManifest(JSON.stringify(evil), 'm')).toThrow(/malformed file entry/);
  });
});

describe('stateDigest: a training state as it travels, optimizer slots included', () => {
  const state = () => ({
    weights: new Float32Array([1, 2, 3]),
    batchNorm: new Float32Array([0.5]),
    optimizer: [{ shape: [3], data: new Float32Array([0.1, 0.2, 0.3]) }],
  });

  it('is the same for the same arrays, whether given as frames or as a state', () => {
    const s = state();
    const bytes = (f: Float32Array) => new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
    expect(digestOfState(s)).toBe(
      stateDigest([bytes(s.weights), bytes(s.batchNorm), bytes(s.optimizer[0]!.data)], [[3]]),
    );
    expect(digestOfState(state())).toBe(digestOfState(s));
  });

  it('changes when a slot is lost, changed in one bit, or reshaped, while the weights stay the same', () => {
    const base = digestOfState(state());
    expect(digestOfState({ ...state(), optimizer: [] })).not.toBe(base);
    const flipped = state();
    new Uint32Array(flipped.optimizer[0]!.data.buffer)[1]! ^= 1;
    expect(digestOfState(flipped)).not.toBe(base);
    expect(
      digestOfState({ ...state(), optimizer: [{ shape: [1, 3], data: new Float32Array([0.1, 0.2, 0.3]) }] }),
    ).not.toBe(base);
    // The boundary between arrays counts: the same bytes split otherwise are another state.
    expect(
      digestOfState({
        weights: new Float32Array([1, 2]),
        batchNorm: new Float32Array([3, 0.5]),
        optimizer: state().optimizer,
      }),
    ).not.toBe(base);
  });
});
