// Elastic joins: between steps, workers that asked to join while the run is below its world size
// (after an elastic shrink) are taken in. Each gets the next rank, builds its engine, joins the ring
// and a healthy rank's state. A joiner whose model or data differs, or that fails before it is
// synced, is sent away (its host kept out for a back-off: policy/join-backoff.ts); the run goes on.
import type { MembershipChange } from '@tfjs-ddp/core';
import { checkWorkersAgree } from '../policy/workers-agree';
import type { ClockSync } from './clock-sync';
import type { ControlIo } from './control-io';
import { now, type Hello } from './group-options';
import { rewire } from './rendezvous';
import { syncFrom } from './state-sync';
import { JoinerLost } from './wait-errors';

/**
 * A joiner answers pings from its control loop while it builds its engine (the memory search runs
 * in a child process); silent this long, it is taken for dead and sent away (3× SILENCE_MS: a
 * joiner's event loop may be busy loading data and building its model).
 */
const JOINER_SILENCE_MS = 30_000;

/** Takes in the workers waiting to join, up to the world size; the change, or null when none joined. */
export async function admit(io: ControlIo, clocks: ClockSync): Promise<MembershipChange | null> {
  const { roster, o } = io;
  if (io.joiners.length === 0 || roster.size >= o.worldSize) return null;
  const before = roster.size;
  for (const j of io.joiners.splice(0, o.worldSize - roster.size)) {
    const rank = roster.size;
    roster.seat(rank, j.peer);
    await io.sendTo(rank, { type: 'welcome', rank, worldSize: rank + 1, settings: o.settingsFor(rank) });
    const hello = await joinerHello(io, rank, o.rendezvousTimeoutMs);
    const sendAway = async (reason: string) => {
      await io.sendTo(rank, { type: 'stop', reason }).catch(() => undefined);
      roster.unseat(j.peer);
      roster.peers.length = rank;
    };
    if (typeof hello === 'string') {
      const kept = io.joinBackoff.failed(j.msg.host, hello, Date.now());
      o.log.warn({ pid: j.msg.pid, host: j.msg.host, reason: hello, failures: kept.failures, keptOutUntil: new Date(kept.until).toISOString() }, 'a joining worker failed before it was taken in: sent away');
      await sendAway(`it failed to join (${hello})`);
      continue;
    }
    io.joinBackoff.succeeded(j.msg.host);
    const d = { ...hello.description, rank };
    try {
      checkWorkersAgree([roster.description(0), d]);
    } catch (e) {
      o.log.warn({ pid: j.msg.pid, host: j.msg.host, reason: e instanceof Error ? e.message : String(e) }, 'a joining worker differs from the run: sent away');
      await sendAway('it differs from the run');
      continue;
    }
    roster.descriptions[rank] = d;
    roster.addresses[rank] = hello.dataAddress;
    roster.size++;
  }
  if (roster.size === before) return null;
  const added = Array.from({ length: roster.size - before }, (_, k) => before + k);
  // Until the new ranks hold the run's state, one that dies or fails undoes the join: the run goes
  // on as it was, without them.
  io.joining = { ranks: added, since: now() };
  try {
    await rewire(io, clocks, roster.all(), true);
    await syncFrom(io, 0, added);
  } catch (e) {
    if (!(e instanceof JoinerLost)) throw e;
    await undoJoin(io, clocks, before, added, e);
    return null;
  } finally {
    io.joining = null;
  }
  o.log.info({ step: io.currentStep, workers: roster.size, added: added.map((r) => ({ rank: r, pid: roster.description(r).pid, host: roster.description(r).host })) }, 'workers joined the run');
  return { kind: 'grow', previousRank: [...Array.from({ length: before }, (_, r) => r), ...added.map(() => null)], lost: [] };
}

/**
 * The hello of a worker being taken in at `rank`, or why it failed: an error it reported (its
 * data is not there, its engine did not build), another message, silence (no answer to the pings
 * for JOINER_SILENCE_MS) or no hello within `timeoutMs`. A failure of a rank already in the run
 * still fails the group. Messages of other ranks wait in `pending`.
 */
async function joinerHello(io: ControlIo, rank: number, timeoutMs: number): Promise<Hello | string> {
  const start = now();
  for (;;) {
    if (io.failure !== null) io.fail(io.failure);
    const at = io.pending.findIndex((r) => r.rank === rank);
    if (at >= 0) {
      const { msg } = io.pending.splice(at, 1)[0]!;
      if (msg.type === 'hello') return msg;
      return msg.type === 'error' ? `${msg.code}: ${msg.message}` : `it sent ${msg.type} where its hello was expected`;
    }
    const t = now();
    if (t - Math.max(io.lastSeen.get(rank)?.at ?? 0, start) > JOINER_SILENCE_MS) return `it answered no ping for ${JOINER_SILENCE_MS / 1000} s`;
    if (t - start > timeoutMs) return `no hello within ${Math.round(timeoutMs / 1000)} s`;
    await io.receiveInto(timeoutMs);
  }
}

/**
 * A worker taken in failed while the ring was rewired or it was synced: every worker of this
 * admission is sent away (the failed one's host counts a failed join), and the ring of the `before`
 * ranks that were there is made again; their state never changed.
 */
async function undoJoin(io: ControlIo, clocks: ClockSync, before: number, added: number[], e: JoinerLost): Promise<void> {
  const { roster } = io;
  const lost = roster.description(e.rank);
  const kept = io.joinBackoff.failed(lost.host, e.reason, Date.now());
  io.o.log.warn({ rank: e.rank, pid: lost.pid, host: lost.host, reason: e.reason, failures: kept.failures, keptOutUntil: new Date(kept.until).toISOString() }, 'a joining worker failed while it was synced: the join is undone and the run goes on as it was');
  for (const r of added) {
    await io.sendTo(r, { type: 'stop', reason: r === e.rank ? `it failed to join (${e.reason})` : 'another worker of its join failed: join again' }).catch(() => undefined);
    io.lastSeen.delete(r);
  }
  roster.truncate(before);
  io.pending = io.pending.filter((r) => r.rank < before);
  await rewire(io, clocks, roster.all(), true);
}
