import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { traceClock } from '@tfjs-ddp/core';
import { COORDINATOR_PID, Timeline, openPhases, rankPid, spanEvent, type TraceEvent } from './timeline';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempFile(): string {
  const d = mkdtempSync(join(tmpdir(), 'tfjs-ddp-timeline-'));
  dirs.push(d);
  return join(d, 'trace.json');
}
const read = (f: string) => JSON.parse(readFileSync(f, 'utf8')) as TraceEvent[];
const from = { pid: 4242, host: 'node-a', clockOffsetMs: -0.25 };

describe('Timeline', () => {
  it('is a valid JSON array after every write, without being closed (a killed run)', () => {
    const f = tempFile();
    const t = Timeline.open(f);
    expect(read(f)).toEqual([]);
    t.rank(0, [{ name: 'step 1', start: 1000, end: 1010 }], from);
    const afterOne = read(f);
    expect(afterOne.filter((e) => e.ph === 'X')).toEqual([{ name: 'step 1', ph: 'X', pid: rankPid(0), tid: 0, ts: 1_000_000, dur: 10_000 }]);
    for (let i = 2; i < 50; i++) {
      t.rank(i % 3, [{ name: `step ${i}`, start: 1000 + 10 * i, end: 1005 + 10 * i, args: { step: i } }], from);
      expect(read(f).filter((e) => e.ph === 'X')).toHaveLength(i);
    }
    // Never closed: what a SIGKILL leaves.
  });

  it('names each rank once per process (its pid, host and clock offset) and the coordinator first', () => {
    const f = tempFile();
    const t = Timeline.open(f);
    t.coordinator();
    t.rank(1, [{ name: 'a', start: 1, end: 2 }], from);
    t.rank(1, [{ name: 'b', start: 3, end: 4 }], from);
    t.rank(1, [{ name: 'c', start: 5, end: 6 }], { ...from, pid: 5151 }); // replaced: a new process
    const names = read(f).filter((e) => e.ph === 'M' && e.name === 'process_labels');
    expect(names.map((e) => [e.pid, e.args!['labels']])).toEqual([
      [COORDINATOR_PID, `pid ${process.pid}`],
      [rankPid(1), 'pid 4242 on node-a, clock offset -0.250 ms'],
      [rankPid(1), 'pid 5151 on node-a, clock offset -0.250 ms'],
    ]);
    const sort = read(f).filter((e) => e.name === 'process_sort_index');
    expect(sort.map((e) => e.args!['sort_index'])).toEqual([1, 3, 3]);
  });

  it('writes a batch of spans by start, longest first at the same start (a parent before its children)', () => {
    const f = tempFile();
    const t = Timeline.open(f);
    t.rank(0, [
      { name: 'child', start: 10, end: 12 },
      { name: 'later', start: 20, end: 21 },
      { name: 'parent', start: 10, end: 30 },
    ], from);
    expect(read(f).filter((e) => e.ph === 'X').map((e) => e.name)).toEqual(['parent', 'child', 'later']);
  });

  it('keeps nesting when rounding to microseconds', () => {
    const parent = spanEvent(2, { name: 'p', start: 1.0004, end: 2.0004 });
    const child = spanEvent(2, { name: 'c', start: 1.0004, end: 2.0004 });
    const inner = spanEvent(2, { name: 'i', start: 1.00049, end: 1.00051 });
    for (const c of [child, inner]) {
      expect(c.ts!).toBeGreaterThanOrEqual(parent.ts!);
      expect(c.ts! + c.dur!).toBeLessThanOrEqual(parent.ts! + parent.dur!);
    }
  });

  it("records the coordinator's phases as nested begin/end pairs and its events as instants", () => {
    const f = tempFile();
    const t = Timeline.open(f);
    const c = t.coordinator();
    c.begin('step 1', { step: 1 });
    c.begin('plan');
    c.end();
    c.mark('oom', { rank: 1 });
    c.end({ samples: 48 });
    const ev = read(f).filter((e) => e.ph !== 'M');
    expect(ev.map((e) => [e.ph, e.name])).toEqual([['B', 'step 1'], ['B', 'plan'], ['E', ''], ['i', 'oom'], ['E', '']]);
    expect(ev.every((e) => e.pid === COORDINATOR_PID)).toBe(true);
    const ts = ev.map((e) => e.ts!);
    expect([...ts].sort((a, b) => a - b)).toEqual(ts);
  });

  it('appends to the timeline of the run it resumes, and a new run leaves it as it is', () => {
    const f = tempFile();
    const a = Timeline.open(f);
    a.rank(0, [{ name: 'step 1', start: 1, end: 2 }], from);
    a.close();
    const b = Timeline.open(f, { append: true });
    b.rank(0, [{ name: 'step 2', start: 3, end: 4 }], from);
    b.close();
    expect(read(f).filter((e) => e.ph === 'X').map((e) => e.name)).toEqual(['step 1', 'step 2']);
    const before = readFileSync(f, 'utf8');
    expect(() => Timeline.open(f)).toThrow(expect.objectContaining({ code: 'E_CONFIG', message: expect.stringMatching(/holds a timeline this run did not create: it is left as it is/) }));
    expect(readFileSync(f, 'utf8')).toBe(before);
  });

  it('writes a new timeline into an empty file (a mktemp)', () => {
    const f = tempFile();
    writeFileSync(f, '');
    Timeline.open(f).close();
    expect(read(f)).toEqual([]);
  });

  it('appends to an empty timeline, and to one a killed run left', () => {
    const f = tempFile();
    Timeline.open(f).close();
    const a = Timeline.open(f, { append: true });
    a.rank(0, [{ name: 'x', start: 1, end: 2 }], from);
    // not closed
    const b = Timeline.open(f, { append: true });
    b.rank(0, [{ name: 'y', start: 3, end: 4 }], from);
    expect(read(f).filter((e) => e.ph === 'X').map((e) => e.name)).toEqual(['x', 'y']);
  });

  it("ends the phases a killed run left open when a resume appends", () => {
    const f = tempFile();
    const a = Timeline.open(f);
    const c = a.coordinator();
    c.begin('step 3');
    c.begin('wait for the ranks');
    a.rank(0, [{ name: 'x', start: traceClock() + 5, end: traceClock() + 9 }], from);
    // killed here
    const b = Timeline.open(f, { append: true });
    b.coordinator().begin('restore the checkpoint');
    const ev = read(f);
    expect(openPhases(ev).map((e) => e.name)).toEqual(['restore the checkpoint']);
    const closing = ev.filter((e) => e.ph === 'E');
    expect(closing).toHaveLength(2);
    expect(closing.every((e) => e.args?.['unfinished'] === true)).toBe(true);
    const x = ev.find((e) => e.name === 'x')!;
    expect(closing[0]!.ts).toBe(x.ts! + x.dur!);
  });

  it("appends to a long run's timeline (more events than Math.max takes as arguments)", () => {
    const f = tempFile();
    const a = Timeline.open(f);
    const c = a.coordinator();
    c.begin('step 1');
    a.rank(0, Array.from({ length: 300_000 }, (_, i) => ({ name: 'x', start: 1000 + i, end: 1000.5 + i })), from);
    const b = Timeline.open(f, { append: true });
    b.close();
    const ev = read(f);
    expect(ev.filter((e) => e.ph === 'X')).toHaveLength(300_000);
    let last = 0;
    for (const e of ev) last = Math.max(last, (e.ts ?? 0) + (e.dur ?? 0));
    expect(ev.at(-1)).toMatchObject({ ph: 'E', ts: last, args: { unfinished: true } });
  });

  it('leaves a file that is not a timeline as it is, with an error naming it', () => {
    const f = tempFile();
    writeFileSync(f, '{"not": "a timeline"}\n');
    expect(() => Timeline.open(f)).toThrow(/exists and is not a timeline/);
    expect(readFileSync(f, 'utf8')).toBe('{"not": "a timeline"}\n');
    writeFileSync(f, 'plain text');
    expect(() => Timeline.open(f, { append: true })).toThrow(expect.objectContaining({ code: 'E_CONFIG' }));
    expect(readFileSync(f, 'utf8')).toBe('plain text');
  });

  it('says where it cannot write', () => {
    expect(() => Timeline.open('/nonexistent-dir/trace.json')).toThrow(/cannot write the timeline to \/nonexistent-dir\/trace.json \(ENOENT\)/);
  });
});
