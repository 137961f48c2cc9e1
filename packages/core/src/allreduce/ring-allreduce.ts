// Ring all-reduce (in-place SUM) over a RingChannel: reduce-scatter then all-gather, N−1 ring steps
// each, so every rank sends ≈ 2(N−1)/N of the buffer whatever N is. Chunked and pipelined: a chunk
// is forwarded as soon as it has been received (and reduced), while later chunks are still on the
// wire. Every rank ends with bit-identical values (each segment is summed once, along the ring, then
// copied). Knows nothing of ZeroMQ; called by the worker's train step and by tools/bench-allreduce.
import { DdpError, isDdpError } from '../errors';
import {
  MessageType,
  decodeChunk,
  encodeChunk,
  type ChunkHeader,
  type RingPhase,
} from '../protocol/frame-codec';
import { RingFailure } from '../transport/transport-errors';
import { addInto } from './add-into';
import type { RingTimes } from '../transport/transport';
import type { RingChannel } from './ring-channel';
import { chunkCount, chunkSpan, recvSegment, segmentSpan, sendSegment } from './ring-layout';

/**
 * Floats per chunk message, at least: 131,072 (512 KiB). Median ms per all-reduce, `npm run bench:allreduce --
 * --chunk 16384,65536,131072,262144` (ipc, separate processes, 2-core VM, two rounds):
 *   chunk     N=2 3.0 MB  N=2 64 MiB  N=4 3.0 MB  N=4 64 MiB
 *   16384      7.3/9.8    129/165     19.6/21.8   432/350
 *   65536      4.5/5.5    109/107     15.4/14.7   345/277
 *   131072     3.6/4.3    109/106     13.3/12.1   288/280
 *   262144     4.1/5.2     94/97      14.6/11.9   246/243
 * Best on this project's 3,032,904-byte gradient. Per-message cost (a promise, a native call, a fresh
 * buffer) dominates below 64K; bigger chunks pipeline less.
 */
export const DEFAULT_CHUNK_ELEMENTS = 131_072;

/**
 * Floats per chunk message, at most: 524,288 (2 MiB). After in-place sends and the SIMD add, at 64 MiB
 * (`--chunk 131072,262144,524288`, two alternating rounds, median ms / CPU ms per call and rank):
 * N=2 64/55, 57/50, 58/48; N=4 155/77, 152/72, 144/69. Fewer, larger messages cost less CPU.
 */
export const MAX_CHUNK_ELEMENTS = 524_288;

/**
 * The chunk size ringAllReduce uses when none is given: an eighth of a segment, within
 * [DEFAULT_CHUNK_ELEMENTS, MAX_CHUNK_ELEMENTS]. A function of the length and N only, so the same on
 * every rank: 131,072 for the 3 MB gradient, 524,288 for 64 MiB at N = 2 and 4.
 */
export function defaultChunkElements(length: number, worldSize: number): number {
  const eighth = Math.ceil(length / Math.max(1, worldSize) / 8);
  return Math.min(MAX_CHUNK_ELEMENTS, Math.max(DEFAULT_CHUNK_ELEMENTS, eighth));
}

export interface RingAllReduceOptions {
  /** Training step (or any per-call counter), carried in every frame and checked on receipt. */
  step: number;
  /** Longest wait for any one chunk from the left neighbour. */
  timeoutMs: number;
  /** Floats per message; default defaultChunkElements(length, N). Must be the same on every rank. */
  chunkElements?: number;
}

function checkArgs(buf: Float32Array, ch: RingChannel, opts: RingAllReduceOptions, chunk: number): void {
  const bad = (what: string): never => {
    throw new DdpError('E_INTERNAL', `ringAllReduce: ${what}`, 'this is a bug in the caller');
  };
  const n = ch.worldSize;
  if (!Number.isInteger(n) || n < 1 || n > 0xffff) bad(`worldSize is ${n}, expected 1…65535`);
  if (!Number.isInteger(ch.rank) || ch.rank < 0 || ch.rank >= n)
    bad(`rank is ${ch.rank}, expected 0…${n - 1}`);
  if (!Number.isInteger(opts.step) || opts.step < 0 || opts.step > 0xffffffff)
    bad(`step is ${opts.step}, expected a u32`);
  // Larger chunks would exceed the data plane's frame limit (MAX_DATA_FRAME_BYTES): the peer is dropped.
  if (!Number.isInteger(chunk) || chunk < 1 || chunk > MAX_CHUNK_ELEMENTS) bad(`chunkElements is ${chunk}, expected an integer in 1…${MAX_CHUNK_ELEMENTS}`);
  if (buf.length / chunk > 0xffffffff) bad(`${buf.length} floats need more than 2^32 chunks of ${chunk}`);
}

/**
 * Sums `buf` element-wise over all ranks of the ring, in place. Every rank must call it with the same
 * buffer length, step and chunkElements. N = 1 returns null at once; otherwise it resolves to when
 * its phases happened (for the run's timeline). When it resolves, the peers no longer
 * read `buf`: the caller may overwrite it at once. When it throws, pieces of `buf` sent in place may
 * still be queued for the right neighbour until the channel is closed (what it then gets is moot:
 * that all-reduce has failed).
 * @throws DdpError E_TIMEOUT naming the left neighbour, step, phase and ring step when a chunk does not
 *   arrive within timeoutMs; E_PROTOCOL when a frame is not the expected one (sender, step, phase,
 *   ring step, segment, chunk, length); E_CLOSED when the channel is closed meanwhile
 */
export async function ringAllReduce(
  buf: Float32Array,
  ch: RingChannel,
  opts: RingAllReduceOptions,
): Promise<RingTimes | null> {
  const chunk = opts.chunkElements ?? defaultChunkElements(buf.length, ch.worldSize);
  checkArgs(buf, ch, opts, chunk);
  const { rank, worldSize: n } = ch;
  if (n === 1) return null;
  const times: RingTimes = { start: performance.now(), firstChunk: -1, reduceScatterEnd: -1, end: -1 };
  const left = (rank + n - 1) % n;
  const steps = 2 * (n - 1);
  const where = (t: number): { phase: RingPhase; ringStep: number } =>
    t < n - 1 ? { phase: 'reduce-scatter', ringStep: t } : { phase: 'all-gather', ringStep: t - (n - 1) };
  const expect = (t: number, segment: number, c: number, count: number): ChunkHeader => ({
    type: MessageType.RingChunk,
    sender: left,
    step: opts.step,
    ...where(t),
    segment,
    chunk: c,
    count,
  });
  const leftTimeout = (t: number, segment: number, c: number, cause: unknown): DdpError => {
    const { phase, ringStep } = where(t);
    return new DdpError(
      'E_TIMEOUT',
      `rank ${rank} got nothing from rank ${left} (its left neighbour) for ${opts.timeoutMs} ms in all-reduce ` +
        `step ${opts.step}, ${phase} ring step ${ringStep + 1} of ${n - 1} (segment ${segment}, chunk ${c})`,
      `check that rank ${left} is alive and reached step ${opts.step}`,
      { cause },
    );
  };

  const native = ch.left.ringAllReduce?.(ch.right, buf, {
    rank,
    worldSize: n,
    step: opts.step,
    timeoutMs: opts.timeoutMs,
    chunkElements: chunk,
  });
  if (native !== undefined) {
    try {
      return await native;
    } catch (e) {
      if (!(e instanceof RingFailure)) throw e;
      const { ringStep: t, segment, chunk: c } = e;
      if (e.kind === 'timeout') throw leftTimeout(t, segment, c, e);
      if (e.kind === 'send-timeout') {
        const right = (rank + 1) % n;
        throw new DdpError(
          'E_TIMEOUT',
          `rank ${rank} could not hand its last chunks to rank ${right} (its right neighbour) for ${opts.timeoutMs} ms ` +
            `at the end of all-reduce step ${opts.step}`,
          `check that rank ${right} is alive and reached step ${opts.step}`,
          { cause: e },
        );
      }
      const count = chunkSpan(segmentSpan(buf.length, n, segment), chunk, c).length;
      decodeChunk(e.frames, expect(t, segment, c, count)); // throws E_PROTOCOL, worded as below
      throw new DdpError(
        'E_INTERNAL',
        `native all-reduce rejected a valid chunk: ${e.message}`,
        'report this',
        {
          cause: e,
        },
      );
    }
  }

  // No copies on the way out. Ring step 0 sends views of `buf` in place; every later step forwards
  // the payload just received (ours to keep: the inbox hands it over) after reducing into it, so the
  // partial sums never touch `buf` and the only writes to `buf` are the final values. The in-place
  // views are safe because of the ring's causality: rank r sends chunk c of segment r at step 0 and
  // next writes that span at step N−1, when the fully reduced chunk c of segment r arrives from its
  // left neighbour. That chunk is the same one travelling on: rank r+1 received r's step-0 message
  // before it sent its step-1 chunk c, r+2 received that before sending step 2, …, and r−1 sent it to
  // r at step N−1. So by the time r receives it (and writes), r+1 holds r's step-0 message whole, and
  // ZeroMQ has finished reading those bytes. The same holds when r returns, after its last receive.
  const sendInPlace = ch.right.sendInPlace?.bind(ch.right) ?? ch.right.send.bind(ch.right);
  const sends: Promise<void>[] = [];
  let sendFailure: unknown;
  const send = (t: number, c: number, payload: Float32Array): void => {
    const frames = encodeChunk(
      {
        type: MessageType.RingChunk,
        sender: rank,
        step: opts.step,
        ...where(t),
        segment: sendSegment(rank, n, t),
        chunk: c,
      },
      payload,
    );
    // Not awaited: the next chunks go out (and arrive) while this one is on the wire.
    const p = sendInPlace(frames);
    p.catch((e: unknown) => (sendFailure ??= e));
    sends.push(p);
  };

  const first = segmentSpan(buf.length, n, sendSegment(rank, n, 0));
  for (let c = 0; c < chunkCount(first.length, chunk); c++) {
    const span = chunkSpan(first, chunk, c);
    send(0, c, buf.subarray(span.offset, span.offset + span.length));
  }

  for (let t = 0; t < steps; t++) {
    const segment = recvSegment(rank, n, t);
    const seg = segmentSpan(buf.length, n, segment);
    for (let c = 0; c < chunkCount(seg.length, chunk); c++) {
      if (sendFailure !== undefined) throw sendFailure;
      const span = chunkSpan(seg, chunk, c);
      let frames;
      try {
        frames = await ch.left.recv(opts.timeoutMs);
        if (times.firstChunk < 0) times.firstChunk = performance.now();
      } catch (e) {
        if (!isDdpError(e, 'E_TIMEOUT')) throw e;
        throw leftTimeout(t, segment, c, e);
      }
      const incoming = decodeChunk(frames, expect(t, segment, c, span.length));
      const dst = buf.subarray(span.offset, span.offset + span.length);
      // Reduce-scatter: incoming += ours (a + b and b + a are the same float). Its last step yields
      // the segment's final sum, written to our buffer too; all-gather copies it to every rank.
      if (t < n - 2) addInto(incoming, dst);
      else if (t === n - 2) addInto(incoming, dst, dst);
      else dst.set(incoming);
      if (t + 1 < steps) send(t + 1, c, incoming);
    }
    if (t === n - 2) times.reduceScatterEnd = performance.now();
  }
  await Promise.all(sends);
  times.end = performance.now();
  return times;
}
