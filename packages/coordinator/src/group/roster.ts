// Who is in the run now: each rank's control-plane peer, its description (from its hello) and its
// ring inbox address, and how many ranks there are. Changed only by rendezvous, a replacement, an
// elastic shrink or join, and their undoing; no I/O here.
import type { WorkerDescription } from '@tfjs-ddp/core';

export class Roster {
  /** Each rank's control-plane peer (ping targets; a replaced rank's old peer stays until its new one joins). */
  readonly peers: string[] = [];
  private readonly ranks = new Map<string, number>();
  descriptions: WorkerDescription[] = [];
  /** Ring inbox address of each rank. */
  addresses: string[] = [];

  /** Ranks now: worldSize, fewer after an elastic shrink. */
  constructor(public size: number) {}

  /** The rank of a control-plane peer, if it has one. */
  rankOf(peer: string): number | undefined {
    return this.ranks.get(peer);
  }

  /** `rank`'s messages come from `peer` from now on. */
  seat(rank: number, peer: string): void {
    this.peers[rank] = peer;
    this.ranks.set(peer, rank);
  }

  /** Messages from `peer` no longer count as a rank's (it is being replaced, or sent away). */
  unseat(peer: string): void {
    this.ranks.delete(peer);
  }

  description(rank: number): WorkerDescription {
    const d = this.descriptions[rank];
    if (d === undefined) throw new Error(`no rank ${rank} in a group of ${this.descriptions.length}`);
    return d;
  }

  /** Every rank now, 0..n-1 (by their descriptions). */
  all(): number[] {
    return this.descriptions.map((d) => d.rank);
  }

  /**
   * An elastic shrink: the `survivors` (old ranks, in order) become ranks 0..k-1, with the ring
   * inboxes they bound when they left.
   */
  renumber(survivors: number[], addresses: string[]): void {
    const peers = survivors.map((r) => this.peers[r]!);
    this.descriptions = survivors.map((r, i) => ({ ...this.description(r), rank: i }));
    this.peers.length = 0;
    this.ranks.clear();
    peers.forEach((p, r) => this.seat(r, p));
    this.addresses = addresses;
    this.size = survivors.length;
  }

  /** Undoes an elastic join: only ranks below `before` remain. */
  truncate(before: number): void {
    for (const p of this.peers.slice(before)) if (p !== undefined) this.ranks.delete(p);
    this.peers.length = before;
    this.descriptions.length = before;
    this.addresses.length = before;
    this.size = before;
  }
}
