// RingChannel: what a rank's all-reduce sees of the ring: an outbox to its right neighbour
// ((rank + 1) mod N) and its own inbox, which only its left neighbour sends to.
import type { Inbox, Outbox } from '../transport/transport';

export interface RingChannel {
  rank: number;
  worldSize: number;
  /** Connected to the inbox of rank (rank + 1) mod worldSize. */
  right: Outbox;
  /** Receives from rank (rank − 1) mod worldSize. */
  left: Inbox;
}
