// TensorBoard event files, written without tfjs-node: TFRecord framing (uint64 length, masked CRC32C
// of the length, the data, masked CRC32C of the data) around tensorflow.Event protobufs holding
// scalar summaries. Called by tensorboard-sink.ts, which turns a run's metric events into scalars.
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DdpError } from '@tfjs-ddp/core';
import { crc32c, maskCrc32c } from './crc32c';

/** One TFRecord: uint64 LE length, its masked CRC32C, the data, the data's masked CRC32C. */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length + 16);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskCrc32c(crc32c(out.subarray(0, 8))), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskCrc32c(crc32c(data)), true);
  return out;
}

/** The fields of tensorflow.Event this writer uses; `scalars` become Summary.value entries. */
export interface EventFields {
  wallTime: number;
  step?: number;
  fileVersion?: string;
  scalars?: { tag: string; value: number }[];
}

const utf8 = new TextEncoder();

/** Appends a varint: `v` is a non-negative integer up to 2^53 (steps and lengths). */
function varint(out: number[], v: number): void {
  for (; v >= 0x80; v = Math.floor(v / 0x80)) out.push((v % 0x80) | 0x80);
  out.push(v);
}

function lengthDelimited(out: number[], field: number, bytes: ArrayLike<number>): void {
  varint(out, (field << 3) | 2);
  varint(out, bytes.length);
  for (let i = 0; i < bytes.length; i++) out.push(bytes[i]!);
}

function fixed(out: number[], field: number, value: number, width: 4 | 8): void {
  const b = new DataView(new ArrayBuffer(width));
  if (width === 8) b.setFloat64(0, value, true);
  else b.setFloat32(0, value, true);
  varint(out, (field << 3) | (width === 8 ? 1 : 5));
  for (let i = 0; i < width; i++) out.push(b.getUint8(i));
}

/**
 * tensorflow.Event: wall_time (1, double), step (2, int64), file_version (3, string), summary (5:
 * Summary.value (1) = Value { tag (1, string), simple_value (2, float) }).
 * @throws DdpError E_INTERNAL for a step that is not a non-negative safe integer.
 */
export function encodeEvent(e: EventFields): Uint8Array {
  const out: number[] = [];
  fixed(out, 1, e.wallTime, 8);
  if (e.step !== undefined) {
    if (!Number.isSafeInteger(e.step) || e.step < 0)
      throw new DdpError('E_INTERNAL', `TensorBoard step ${e.step} is not a non-negative integer`);
    varint(out, 2 << 3);
    varint(out, e.step);
  }
  if (e.fileVersion !== undefined) lengthDelimited(out, 3, utf8.encode(e.fileVersion));
  if (e.scalars !== undefined) {
    const summary: number[] = [];
    for (const s of e.scalars) {
      const value: number[] = [];
      lengthDelimited(value, 1, utf8.encode(s.tag));
      fixed(value, 2, s.value, 4);
      lengthDelimited(summary, 1, value);
    }
    lengthDelimited(out, 5, summary);
  }
  return Uint8Array.from(out);
}

/** TensorBoard's file name convention, with this writer's suffix; the name must hold "tfevents". */
export function eventFileName(wallTimeSec: number, host: string, pid: number): string {
  return `events.out.tfevents.${Math.floor(wallTimeSec)}.${host}.${pid}.tfjs-ddp`;
}

/** One event file: every record goes to disk with its own write, so a killed run keeps them. */
export class TensorBoardWriter {
  private fd: number | null;

  private constructor(
    readonly file: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /**
   * Creates `dir` if needed and a new event file in it, whose first record is the file_version
   * event. A second writer (a resumed run) adds its own file: TensorBoard reads them all.
   * @throws the file system's error when `dir` cannot be written.
   */
  static open(
    dir: string,
    opts: { wallTimeSec?: number; host?: string; pid?: number } = {},
  ): TensorBoardWriter {
    const wallTime = opts.wallTimeSec ?? Date.now() / 1000;
    mkdirSync(dir, { recursive: true });
    // 'a': the same second, host and pid again (an in-process resume) appends to a valid file.
    const file = join(dir, eventFileName(wallTime, opts.host ?? hostname(), opts.pid ?? process.pid));
    const w = new TensorBoardWriter(file, openSync(file, 'a'));
    w.append({ wallTime, fileVersion: 'brain.Event:2' });
    return w;
  }

  /** Appends one scalar (stored as float32, as TensorBoard's simple_value). */
  scalar(tag: string, step: number, value: number, wallTimeSec = Date.now() / 1000): void {
    this.append({ wallTime: wallTimeSec, step, scalars: [{ tag, value }] });
  }

  /** Flushes to disk and closes; later calls do nothing. */
  close(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  private append(e: EventFields): void {
    if (this.fd === null) throw new DdpError('E_CLOSED', `TensorBoard event file ${this.file} is closed`);
    const record = tfRecord(encodeEvent(e));
    for (let off = 0; off < record.length;) off += writeSync(this.fd, record, off);
  }
}
