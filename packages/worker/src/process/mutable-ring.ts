// A worker's two ring sockets, remade at every rebuild of the ring: the inbox its left neighbour
// sends to, the outbox to its right neighbour. Used by worker-process.ts.
import { DdpError, type Inbox, type Outbox, type RingChannel, type Transport } from '@tfjs-ddp/core';

/** A ring outbox is only ever closed when its messages are no longer wanted: at an abort, or a rebuild. */
const DISCARD = { discard: true };

/**
 * The address of a ring inbox: a tcp address as given (its port is ephemeral, or the user's), an
 * ipc path made this process's own and new at each rebuild (`generation`). A replacement for a lost
 * rank gets the same base path as its predecessor, and a ZeroMQ outbox to the old path, closed with
 * a linger, keeps reconnecting: had the new process bound that path, it would have received the
 * abandoned step's chunks before the replayed step's (E_PROTOCOL: chunk 0 twice). Outboxes are
 * also closed without a linger now (MutableRing), which covers a fixed tcp port as well.
 */
export function ringInboxAddress(base: string, pid: number, generation: number): string {
  return base.startsWith('ipc://') ? `${base}.${pid}.${generation}` : base;
}

/**
 * This rank's place in the ring: its inbox (bound here, so the left neighbour can connect) and its
 * outbox to the right neighbour. Both are replaced when the coordinator rebuilds the ring after a
 * rank was lost: a new inbox at a new address, so no message of the abandoned step can reach it.
 */
export class MutableRing {
  private left: Inbox | null = null;
  private right: Outbox | null = null;
  private generation = 0;

  constructor(
    private readonly transport: Transport,
    public rank: number,
    public worldSize: number,
    private readonly address: string,
  ) {}

  /** This rank's place in a ring that grew or shrank (elastic runs). */
  place(rank: number, worldSize: number): void {
    this.rank = rank;
    this.worldSize = worldSize;
  }

  /** Binds a new inbox; returns its address (ringInboxAddress). */
  async bind(): Promise<string> {
    const address = ringInboxAddress(this.address, process.pid, this.generation);
    this.generation++;
    this.left = await this.transport.inbox(address);
    return this.left.address;
  }

  async connect(rightAddress: string): Promise<void> {
    await this.right?.close(DISCARD).catch(() => undefined);
    this.right = await this.transport.outbox(rightAddress);
  }

  /** Whether both ring sockets are there (after the first 'ring' message, until an abort). */
  connected(): boolean {
    return this.left !== null && this.right !== null;
  }

  channel(): RingChannel {
    if (this.left === null || this.right === null)
      throw new DdpError('E_PROTOCOL', 'the ring is not connected: a step came before the ring message');
    return { rank: this.rank, worldSize: this.worldSize, left: this.left, right: this.right };
  }

  /**
   * Closes both sockets now: a wait on either ends with E_CLOSED. What the outbox still holds is
   * dropped: chunks of an abandoned step, which a new inbox at the same address (a fixed tcp port,
   * rebound at the next rebuild) would otherwise receive within the transport's linger.
   */
  closeSockets(): void {
    const { left, right } = this;
    this.left = null;
    this.right = null;
    void left?.close().catch(() => undefined);
    void right?.close(DISCARD).catch(() => undefined);
  }
}
