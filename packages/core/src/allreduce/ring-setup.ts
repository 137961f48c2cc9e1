// Building a ring over a Transport in two phases: each rank binds its inbox (possibly on an
// ephemeral port), the caller exchanges the resolved addresses (the coordinator, or a parent process
// in tools/bench-allreduce), then each rank connects to its right neighbour's inbox.
import { DdpError } from '../errors';
import type { Inbox, Transport } from '../transport/transport';
import type { RingChannel } from './ring-channel';

/**
 * Phase 1: binds this rank's inbox; publish `inbox.address` (resolved) to the other ranks.
 * @throws DdpError E_CONFIG when the address cannot be bound
 */
export function bindRingInbox(transport: Transport, address: string): Promise<Inbox> {
  return transport.inbox(address);
}

/** Where a rank sits in the ring, as the coordinator tells it. */
export interface RingPlace {
  rank: number;
  worldSize: number;
  /** Resolved inbox address of rank (rank + 1) mod worldSize. */
  rightAddress: string;
}

/**
 * Phase 2: connects to the right neighbour's inbox (messages queue until it is bound).
 * @throws DdpError E_CONFIG when rank or worldSize are out of range or the address is malformed
 */
export async function connectRing(
  transport: Transport,
  inbox: Inbox,
  place: RingPlace,
): Promise<RingChannel> {
  const { rank, worldSize } = place;
  if (
    !Number.isInteger(worldSize) ||
    worldSize < 1 ||
    !Number.isInteger(rank) ||
    rank < 0 ||
    rank >= worldSize
  ) {
    throw new DdpError(
      'E_CONFIG',
      `ring rank ${rank} of world size ${worldSize} is out of range`,
      'ranks are 0 … worldSize−1',
    );
  }
  const right = await transport.outbox(place.rightAddress);
  return { rank, worldSize, left: inbox, right };
}

/** Closes both ends of a rank's ring channel. */
export async function closeRing(ch: RingChannel): Promise<void> {
  await Promise.all([ch.right.close(), ch.left.close()]);
}

/**
 * All ranks of a ring in this process (tests, single-process benchmarks).
 * @param bindAddresses one inbox address per rank, to bind (ephemeral ports allowed)
 * @throws DdpError E_CONFIG when an address cannot be bound
 */
export async function openLocalRing(
  transport: Transport,
  bindAddresses: readonly string[],
): Promise<RingChannel[]> {
  const inboxes = await Promise.all(bindAddresses.map((a) => bindRingInbox(transport, a)));
  const resolved = inboxes.map((i) => i.address);
  const worldSize = inboxes.length;
  return Promise.all(
    inboxes.map((inbox, rank) =>
      connectRing(transport, inbox, { rank, worldSize, rightAddress: resolved[(rank + 1) % worldSize]! }),
    ),
  );
}
