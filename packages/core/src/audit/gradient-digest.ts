// The silent-data-corruption audit's digest of a gradient: per chunk, the float64 sum of the values
// and of their absolute values. Cheap (one pass), small on the wire, and compared with a relative
// tolerance, so ranks on different devices (whose float32 rounding differs) do not false-alarm
// while a flipped high exponent bit cannot hide. Computed by the workers (engine/sdc-audit.ts),
// compared by the coordinator (policy/sdc-audit.ts); the wire checks are here, beside the type.
import { DdpError } from '../errors';

/** Chunks a digest has (fewer for a gradient of fewer values): 64 × 2 float64, ~2.5 KB of JSON. */
export const DIGEST_CHUNKS = 64;

/**
 * Two digests agree when every chunk's sums differ by at most this share of the chunk's absolute
 * sum. 1e-3: far above float32 rounding of a sum over a chunk (a different kernel or device moves
 * it by ~1e-6 of the absolute sum), far below what an exponent bit flip does to one element.
 */
export const DIGEST_RTOL = 1e-3;

export interface GradientDigest {
  /** Values digested. */
  n: number;
  /** Per chunk (contiguous, equal but the last), the float64 sum; NaN when not finite (null on the wire). */
  sums: number[];
  /** Per chunk, the float64 sum of absolute values. */
  abs: number[];
}

/** The chunks of a digest of `n` values. */
export function digestChunks(n: number): number {
  return Math.min(n, DIGEST_CHUNKS);
}

/** The digest of `values` (one pass; float64 accumulation). */
export function gradientDigest(values: Float32Array): GradientDigest {
  const n = values.length;
  const chunks = digestChunks(n);
  const sums = new Array<number>(chunks).fill(0);
  const abs = new Array<number>(chunks).fill(0);
  const size = Math.ceil(n / Math.max(1, chunks));
  for (let c = 0; c < chunks; c++) {
    let s = 0;
    let a = 0;
    const end = Math.min(n, (c + 1) * size);
    for (let i = c * size; i < end; i++) {
      const v = values[i]!;
      s += v;
      a += Math.abs(v);
    }
    sums[c] = s;
    abs[c] = a;
  }
  return { n, sums, abs };
}

export interface DigestComparison {
  agree: boolean;
  /** The chunk that disagrees most (relative to its absolute sum), or -1 when none is compared. */
  chunk: number;
  /** That chunk's sums in the two digests, and their difference over the chunk's absolute sum. */
  a: number;
  b: number;
  relative: number;
}

/** Whether two digests agree within `rtol` (DIGEST_RTOL); the worst chunk's figures either way. */
export function compareDigests(x: GradientDigest, y: GradientDigest, rtol = DIGEST_RTOL): DigestComparison {
  if (x.n !== y.n || x.sums.length !== y.sums.length)
    return { agree: false, chunk: -1, a: x.n, b: y.n, relative: Number.POSITIVE_INFINITY };
  let worst: DigestComparison = { agree: true, chunk: -1, a: 0, b: 0, relative: 0 };
  for (let c = 0; c < x.sums.length; c++) {
    const a = x.sums[c]!;
    const b = y.sums[c]!;
    let relative: number;
    if (!Number.isFinite(a) || !Number.isFinite(b)) relative = Object.is(a, b) ? 0 : Number.POSITIVE_INFINITY;
    else {
      const scale = Math.max(x.abs[c]!, y.abs[c]!);
      const diff = Math.abs(a - b);
      relative =
        diff === 0 ? 0 : scale > 0 && Number.isFinite(scale) ? diff / scale : Number.POSITIVE_INFINITY;
    }
    if (worst.chunk === -1 || relative > worst.relative) worst = { agree: true, chunk: c, a, b, relative };
  }
  return { ...worst, agree: !(worst.relative > rtol) };
}

/** A digest as JSON carries it: non-finite sums become null. */
export interface WireDigest {
  n: number;
  sums: (number | null)[];
  abs: (number | null)[];
}

/** An AuditReport as JSON carries it. */
export interface WireAuditReport {
  own: WireDigest;
  checked: { rank: number; digest: WireDigest } | null;
  self?: WireDigest;
}

/** The digest as JSON carries it: non-finite sums become null. */
export function digestToWire(d: GradientDigest): WireDigest {
  const fin = (v: number) => (Number.isFinite(v) ? v : null);
  return { n: d.n, sums: d.sums.map(fin), abs: d.abs.map(fin) };
}

const refuse = (what: string, why: string): never => {
  throw new DdpError('E_PROTOCOL', `${what} ${why}`, 'the sender is broken or runs another version');
};
const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown, max: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;

/**
 * A digest from the wire, checked: `n` a count, `sums` and `abs` arrays of digestChunks(n) numbers or
 * nulls (read as NaN).
 * @throws DdpError E_PROTOCOL naming `what` on anything else
 */
export function readGradientDigest(v: unknown, what: string): GradientDigest {
  if (!isRecord(v)) return refuse(what, 'is not a digest object');
  const n = v['n'];
  if (!isCount(n, 2 ** 31)) return refuse(what, 'has no value count n');
  const list = (key: 'sums' | 'abs'): number[] => {
    const a = v[key];
    if (!Array.isArray(a) || a.length !== digestChunks(n))
      return refuse(what, `has no ${key} of ${digestChunks(n)} chunks`);
    return a.map((x) =>
      x === null
        ? Number.NaN
        : typeof x === 'number'
          ? x
          : refuse(what, `has a ${key} entry that is not a number`),
    );
  };
  return { n, sums: list('sums'), abs: list('abs') };
}

/**
 * What a step asks of a rank on an audit step: recompute `rank`'s first micro-batch (its indices
 * follow as frame 1); with `self`, recompute its own first micro-batch too (the self-check of a
 * run's first audit: is the training step repeatable at all?).
 */
export interface AuditRequest {
  rank: number;
  microBatch: number;
  self?: true;
}

/** What a rank reports on an audit step. */
export interface AuditReport {
  /** The digest of the gradient it contributed for its first micro-batch (after any injected fault). */
  own: GradientDigest;
  /** Its recomputation of another rank's first micro-batch, or null when it was not asked to. */
  checked: { rank: number; digest: GradientDigest } | null;
  /** Asked for (AuditRequest.self): its recomputation of its own first micro-batch. */
  self?: GradientDigest;
}

/**
 * A step message's `audit` field, checked (absent: undefined).
 * @throws DdpError E_PROTOCOL on anything but {rank, microBatch} counts and an optional `self: true`
 */
export function readAuditRequest(v: unknown): AuditRequest | undefined {
  if (v === undefined) return undefined;
  if (
    !isRecord(v) ||
    !isCount(v['rank'], 0xffff) ||
    !isCount(v['microBatch'], 2 ** 24) ||
    v['microBatch'] === 0 ||
    (v['self'] !== undefined && v['self'] !== true)
  )
    return refuse("the step's audit request", 'is not {rank, microBatch, self?: true}');
  return { rank: v['rank'], microBatch: v['microBatch'], ...(v['self'] === true ? { self: true } : {}) };
}

/**
 * A step-done's `audit` field, checked (absent: undefined).
 * @throws DdpError E_PROTOCOL naming `what` on anything but {own, checked, self?}
 */
export function readAuditReport(v: unknown, what: string): AuditReport | undefined {
  if (v === undefined) return undefined;
  if (!isRecord(v)) return refuse(what, 'has an audit that is not an object');
  const own = readGradientDigest(v['own'], `${what}'s own digest`);
  const self =
    v['self'] === undefined ? {} : { self: readGradientDigest(v['self'], `${what}'s self-check digest`) };
  const c = v['checked'];
  if (c === null) return { own, checked: null, ...self };
  if (!isRecord(c) || !isCount(c['rank'], 0xffff))
    return refuse(what, 'has an audit whose checked is not {rank, digest}');
  return {
    own,
    checked: { rank: c['rank'], digest: readGradientDigest(c['digest'], `${what}'s recomputed digest`) },
    ...self,
  };
}
