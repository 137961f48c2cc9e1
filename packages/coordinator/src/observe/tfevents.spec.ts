// The event files are read back by a decoder written here from the formats' definitions (TFRecord
// framing; protobuf wire types 0, 1, 2 and 5), not by calling the encoder. TensorBoard's own reader
// (Python) is no dependency of this suite; files from this writer were read by TensorBoard 2.21's
// EventAccumulator and EventMultiplexer by hand, with the same tags, steps and float32 values.
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { crc32c } from './crc32c';
import { encodeEvent, tfRecord, TensorBoardWriter } from './tfevents';

const mask = (c: number) => (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0;

/** Splits a TFRecord file into its records, checking the length and both masked CRCs of each. */
function readRecords(file: Uint8Array): Uint8Array[] {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const out: Uint8Array[] = [];
  for (let off = 0; off < file.length;) {
    const len = Number(view.getBigUint64(off, true));
    expect(view.getUint32(off + 8, true), `length CRC of the record at byte ${off}`).toBe(
      mask(crc32c(file.subarray(off, off + 8))),
    );
    const data = file.subarray(off + 12, off + 12 + len);
    expect(view.getUint32(off + 12 + len, true), `data CRC of the record at byte ${off}`).toBe(
      mask(crc32c(data)),
    );
    out.push(data);
    off += 16 + len;
    expect(off).toBeLessThanOrEqual(file.length);
  }
  return out;
}

type Field = { field: number; wire: number; value: number | Uint8Array };

/** Protobuf fields in order: varints as numbers, wire 1 as float64, wire 5 as float32, wire 2 as bytes. */
function readFields(b: Uint8Array): Field[] {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let off = 0;
  const varint = () => {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = b[off++]!;
      v |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return Number(v);
    }
  };
  const out: Field[] = [];
  while (off < b.length) {
    const key = varint();
    const [field, wire] = [key >>> 3, key & 7];
    if (wire === 0) out.push({ field, wire, value: varint() });
    else if (wire === 1) {
      out.push({ field, wire, value: view.getFloat64(off, true) });
      off += 8;
    } else if (wire === 5) {
      out.push({ field, wire, value: view.getFloat32(off, true) });
      off += 4;
    } else if (wire === 2) {
      const len = varint();
      out.push({ field, wire, value: b.subarray(off, off + len) });
      off += len;
    } else throw new Error(`wire type ${wire} at byte ${off}`);
  }
  expect(off).toBe(b.length);
  return out;
}

interface DecodedEvent {
  wallTime?: number;
  step?: number;
  fileVersion?: string;
  values: { tag: string; simpleValue: number }[];
}

const text = (v: number | Uint8Array) => new TextDecoder().decode(v as Uint8Array);

/** tensorflow.Event: 1 wall_time (double), 2 step (varint), 3 file_version, 5 summary { 1 value { 1 tag, 2 simple_value (float) } }. */
function decodeEvent(data: Uint8Array): DecodedEvent {
  const e: DecodedEvent = { values: [] };
  for (const f of readFields(data)) {
    if (f.field === 1 && f.wire === 1) e.wallTime = f.value as number;
    else if (f.field === 2 && f.wire === 0) e.step = f.value as number;
    else if (f.field === 3 && f.wire === 2) e.fileVersion = text(f.value);
    else if (f.field === 5 && f.wire === 2) {
      for (const v of readFields(f.value as Uint8Array)) {
        expect([v.field, v.wire]).toEqual([1, 2]);
        const fields = readFields(v.value as Uint8Array);
        expect(fields.map((x) => [x.field, x.wire])).toEqual([
          [1, 2],
          [2, 5],
        ]);
        e.values.push({ tag: text(fields[0]!.value), simpleValue: fields[1]!.value as number });
      }
    } else throw new Error(`unexpected field ${f.field} (wire ${f.wire})`);
  }
  return e;
}

/** Every event of every file in `dir`, by file name. */
function readEventDir(dir: string): Record<string, DecodedEvent[]> {
  return Object.fromEntries(
    readdirSync(dir).map((n) => [
      n,
      readRecords(new Uint8Array(readFileSync(join(dir, n)))).map(decodeEvent),
    ]),
  );
}

const tmp = () => mkdtempSync(join(tmpdir(), 'tfjs-ddp-tb-'));

describe('TensorBoardWriter', () => {
  it('writes a file_version event, then one event per scalar, that an independent reader decodes exactly', () => {
    const dir = join(tmp(), 'tensorboard');
    const w = TensorBoardWriter.open(dir, { wallTimeSec: 1_700_000_000.25, host: 'node7', pid: 4711 });
    w.scalar('train/loss', 1, 2.3, 1_700_000_001.5);
    w.scalar('train/acc', 300, 0.1, 1_700_000_002); // 300: a two-byte varint
    w.scalar('epoch/test_acc', 2 ** 40 + 3, -0.75, 1_700_000_003); // a six-byte varint; -0.75 is exact in float32
    w.close();
    const files = readEventDir(dir);
    expect(Object.keys(files)).toEqual(['events.out.tfevents.1700000000.node7.4711.tfjs-ddp']);
    const events = Object.values(files)[0]!;
    expect(events[0]).toEqual({ wallTime: 1_700_000_000.25, fileVersion: 'brain.Event:2', values: [] });
    // simple_value is a float32: 2.3 is stored as Math.fround(2.3) = 2.299999952316284, 0.1 as 0.10000000149011612.
    expect(events.slice(1)).toEqual([
      { wallTime: 1_700_000_001.5, step: 1, values: [{ tag: 'train/loss', simpleValue: 2.299999952316284 }] },
      {
        wallTime: 1_700_000_002,
        step: 300,
        values: [{ tag: 'train/acc', simpleValue: 0.10000000149011612 }],
      },
      { wallTime: 1_700_000_003, step: 2 ** 40 + 3, values: [{ tag: 'epoch/test_acc', simpleValue: -0.75 }] },
    ]);
    expect(Math.fround(2.3)).toBe(2.299999952316284);
  });

  it('has every record on disk before close, so a killed run keeps what it wrote', () => {
    const dir = tmp();
    const w = TensorBoardWriter.open(dir, { wallTimeSec: 1, host: 'h', pid: 1 });
    w.scalar('train/loss', 7, 0.5, 2);
    const events = readEventDir(dir)['events.out.tfevents.1.h.1.tfjs-ddp']!;
    expect(events.map((e) => e.step)).toEqual([undefined, 7]);
    w.close();
    w.close(); // a second close does nothing
    expect(() => w.scalar('train/loss', 8, 0.5, 3)).toThrow(/E_CLOSED/);
  });

  it('adds a second file next to the first when the run is resumed by another process', () => {
    const dir = tmp();
    TensorBoardWriter.open(dir, { wallTimeSec: 10, host: 'h', pid: 1 }).close();
    TensorBoardWriter.open(dir, { wallTimeSec: 20, host: 'h', pid: 2 }).close();
    expect(Object.keys(readEventDir(dir)).sort()).toEqual([
      'events.out.tfevents.10.h.1.tfjs-ddp',
      'events.out.tfevents.20.h.2.tfjs-ddp',
    ]);
  });
});

describe('tfRecord and encodeEvent', () => {
  it('frame empty data in 16 bytes whose CRCs check out', () => {
    expect(tfRecord(new Uint8Array()).length).toBe(16);
    expect(readRecords(tfRecord(new Uint8Array()))).toEqual([new Uint8Array()]);
  });

  it('refuse a step that is negative or not an integer', () => {
    expect(() => encodeEvent({ wallTime: 0, step: -1 })).toThrow(/E_INTERNAL: TensorBoard step -1/);
    expect(() => encodeEvent({ wallTime: 0, step: 1.5 })).toThrow(/E_INTERNAL/);
  });
});
