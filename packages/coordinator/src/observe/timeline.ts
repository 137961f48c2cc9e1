// The run's timeline (--timeline FILE, TFJS_DDP_TIMELINE): a Chrome trace (JSON array of trace
// events, Perfetto and chrome://tracing open it) with one process per rank and one for the
// coordinator. Ranks' spans arrive in the coordinator's trace clock (the group converts them with
// the offsets it measured at rendezvous); each becomes a complete event ("ph": "X", ts and dur in µs,
// on the wall clock). The coordinator's own phases are begin/end pairs ("B", "E"), written as they
// happen.
//
// A new run never writes over an existing file (an empty one excepted): only the run that created
// the file appends to it, when it is resumed (the caller records which file that is).
//
// The file is a valid JSON array after every write, also when the run is killed mid-way: like
// Horovod's timeline, each write puts its events and the closing "]" after the last event, in one
// positioned write, and the next write starts where that "]" was. A resumed run appends to it.
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { DdpError, traceClock, type TraceSpan } from '@tfjs-ddp/core';
import type { CoordinatorTrace } from '../loop/train-events';

/** The trace's process ids: Perfetto treats pid 0 as special, so the coordinator is 1 and rank r is r + 2. */
export const COORDINATOR_PID = 1;
export const rankPid = (rank: number): number => rank + 2;

const TAIL = '\n]\n';

/** One event of the Chrome trace format (the subset written here). */
export interface TraceEvent {
  name: string;
  ph: 'X' | 'B' | 'E' | 'M' | 'i';
  pid: number;
  tid: number;
  ts?: number;
  dur?: number;
  s?: 'p' | 'g' | 't';
  args?: Record<string, unknown>;
}

export class Timeline {
  private readonly named = new Map<number, string>();
  private closed = false;

  private constructor(
    readonly file: string,
    private readonly fd: number,
    /** Where the closing "]" (TAIL) starts: the next write goes there. */
    private end: number,
    /** Whether the array holds an event (the next one then needs a comma). */
    private any: boolean,
  ) {}

  /**
   * Opens FILE for the run's timeline: a new array, or with `append` (a resumed run, FILE being the
   * timeline that run created) the events already there are kept and new ones follow.
   * @throws DdpError E_CONFIG when FILE exists and is not a JSON array (it is not a timeline), when
   *   it holds anything and `append` is not set (another run's timeline: a file is only ever appended
   *   to by the run that created it), or cannot be opened; the file is left as it is
   */
  static open(file: string, o: { append?: boolean } = {}): Timeline {
    const existing = readExisting(file);
    const events = existingEvents(file, existing, o.append === true);
    const append = o.append === true && events.length > 0;
    let fd: number;
    try {
      fd = openSync(file, existing === null ? 'wx' : 'r+'); // wx: a file made since the read is not overwritten either
    } catch (e) {
      throw cannotOpen(file, e);
    }
    if (append) {
      // Continue after the last event: where its closing bracket is (only whitespace follows it).
      const t = new Timeline(file, fd, Buffer.byteLength(existing!.replace(/\s*\]\s*$/, '')), true);
      t.write('');
      // A killed run left phases open: they end where its record ends, or the phases of this run
      // would nest inside them. (A reduce: a long run has too many events to spread into Math.max.)
      const last = events.reduce((m, e) => Math.max(m, (e.ts ?? 0) + (e.dur ?? 0)), 0);
      t.events(openPhases(events).map((b) => ({ name: '', ph: 'E', pid: b.pid, tid: b.tid, ts: last, args: { unfinished: true } })));
      return t;
    }
    writeSync(fd, `[${TAIL}`, 0, 'utf8');
    return new Timeline(file, fd, 1, false);
  }

  /**
   * Checks, before a new run creates anything, that it may write FILE (it does not exist, or is empty).
   * @throws DdpError E_CONFIG as open() without `append` does
   */
  static checkNew(file: string): void {
    existingEvents(file, readExisting(file), false);
  }

  /** Names a track: "coordinator", "rank 0", …, sorted in that order, with a line of labels. */
  process(pid: number, name: string, labels?: string): void {
    const key = `${name}\u0000${labels ?? ''}`;
    if (this.named.get(pid) === key) return;
    this.named.set(pid, key);
    const events: TraceEvent[] = [
      { name: 'process_name', ph: 'M', pid, tid: 0, args: { name } },
      { name: 'process_sort_index', ph: 'M', pid, tid: 0, args: { sort_index: pid } },
    ];
    if (labels !== undefined) events.push({ name: 'process_labels', ph: 'M', pid, tid: 0, args: { labels } });
    this.events(events);
  }

  /**
   * Spans of one track, in ms on the coordinator's trace clock, as complete events (one write),
   * ordered by start and, at the same start, longest first: a parent before its children, which is
   * the order the viewers nest them in.
   */
  spans(pid: number, spans: readonly TraceSpan[]): void {
    const events = spans.map((s) => spanEvent(pid, s));
    events.sort((a, b) => a.ts! - b.ts! || b.dur! - a.dur!);
    this.events(events);
  }

  /**
   * The coordinator's track, as the step loop records it: each phase is written when it begins
   * ("ph": "B") and when it ends ("E"), so the track nests as the loop's calls do, and a run killed
   * mid-phase leaves that phase open (the viewers show it unfinished) in a file that still parses.
   */
  coordinator(): CoordinatorTrace {
    this.process(COORDINATOR_PID, 'coordinator', `pid ${process.pid}`);
    const at = () => Math.round(traceClock() * 1000);
    return {
      begin: (name, args) => this.events([{ name, ph: 'B', pid: COORDINATOR_PID, tid: 0, ts: at(), ...(args !== undefined ? { args } : {}) }]),
      end: (args) => this.events([{ name: '', ph: 'E', pid: COORDINATOR_PID, tid: 0, ts: at(), ...(args !== undefined ? { args } : {}) }]),
      mark: (name, args) => this.instant(COORDINATOR_PID, name, traceClock(), args),
    };
  }

  /** A rank's spans (RankTraceSink): its track is named after the rank, with its process and clock offset. */
  rank(rank: number, spans: readonly TraceSpan[], from: { pid: number; host: string; clockOffsetMs: number }): void {
    const offset = `${from.clockOffsetMs >= 0 ? '+' : ''}${from.clockOffsetMs.toFixed(3)} ms`;
    this.process(rankPid(rank), `rank ${rank}`, `pid ${from.pid}${from.host !== '' ? ` on ${from.host}` : ''}, clock offset ${offset}`);
    this.spans(rankPid(rank), spans);
  }

  /** A moment on a track (a restart, an out-of-memory), at `at` ms on the coordinator's trace clock. */
  instant(pid: number, name: string, at: number, args?: Record<string, unknown>): void {
    this.events([{ name, ph: 'i', s: 'p', pid, tid: 0, ts: Math.round(at * 1000), ...(args !== undefined ? { args } : {}) }]);
  }

  events(events: readonly TraceEvent[]): void {
    if (events.length === 0 || this.closed) return;
    this.write(events.map((e) => JSON.stringify(e)).join(',\n'));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  /** Writes `body` (events joined by commas, or '') and the closing bracket after it, at once. */
  private write(body: string): void {
    const lead = body === '' ? '' : this.any ? ',\n' : '\n';
    const text = Buffer.from(`${lead}${body}${TAIL}`);
    writeSync(this.fd, text, 0, text.length, this.end);
    this.end += text.length - TAIL.length;
    if (body !== '') this.any = true;
  }
}

/**
 * A span as a complete event. Start and end are rounded to µs separately (rounding keeps order), so
 * spans that nest in ms still nest in µs.
 */
export function spanEvent(pid: number, s: TraceSpan, tid = 0): TraceEvent {
  const ts = Math.round(s.start * 1000);
  const dur = Math.max(0, Math.round(s.end * 1000) - ts);
  return { name: s.name, ph: 'X', pid, tid, ts, dur, ...(s.args !== undefined ? { args: s.args } : {}) };
}

/** The "B" events without their "E", innermost first. */
export function openPhases(events: readonly TraceEvent[]): TraceEvent[] {
  const stacks = new Map<string, TraceEvent[]>();
  for (const e of events) {
    if (e.ph !== 'B' && e.ph !== 'E') continue;
    const key = `${e.pid}/${e.tid}`;
    const stack = stacks.get(key) ?? [];
    stacks.set(key, stack);
    if (e.ph === 'B') stack.push(e);
    else stack.pop();
  }
  return [...stacks.values()].flatMap((s) => s.reverse());
}

function readExisting(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw cannotOpen(file, e);
    return null;
  }
}

/** The events FILE holds ([] when it is new or empty), if the run may write it. */
function existingEvents(file: string, existing: string | null, append: boolean): TraceEvent[] {
  if (existing === null || existing.trim() === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(existing);
  } catch {
    parsed = null;
  }
  if (!Array.isArray(parsed)) {
    throw new DdpError('E_CONFIG', `--timeline ${file} exists and is not a timeline (not a JSON array): it is left as it is`, 'name a new file, or remove that one');
  }
  if (!append) {
    throw new DdpError('E_CONFIG', `--timeline ${file} exists and holds a timeline this run did not create: it is left as it is`, 'name a new file (a timeline is only appended to by the run that created it, when that run is resumed)');
  }
  return parsed as TraceEvent[];
}

function cannotOpen(file: string, e: unknown): DdpError {
  return new DdpError('E_CONFIG', `cannot write the timeline to ${file} (${(e as NodeJS.ErrnoException).code ?? String(e)})`, 'check that the directory exists and is writable');
}
