// The planned GPU buffers of the webgpu buffer pool (webgpu-buffer-pool.ts), shared by the plans of
// every micro-batch size: a plan's buffers are bound to the arena's, each to the smallest one that
// fits and that the plan has not bound yet, and the arena grows only where none fits. So a step of
// micro-batches of two sizes (a rank's share of 128 in micro-batches of 48: 48, 48, 32) holds about
// the larger plan's buffers, not both plans', and switching between them creates nothing. A buffer
// is created when first used and kept while a plan binds it.
import type { BufferPlan } from './buffer-plan';

/** The GPUBuffer members used here. */
export interface PoolBuffer {
  readonly size: number;
  readonly usage: number;
  destroy(): void;
}

/** A planned buffer is bound to an entry at most this many times its size (else a new entry, and the old one goes if no plan binds it). */
const MAX_STRETCH = 2;

interface Entry {
  size: number;
  usage: number;
  buffer: PoolBuffer | null;
  free: boolean;
  /** Dropped from the arena (after an error): its buffer is destroyed when released. */
  dead: boolean;
}

/** A plan bound to the arena: per planned buffer, its arena entry. */
export interface BoundPlan {
  plan: BufferPlan;
  entries: Entry[];
}

export class BufferArena {
  private entries: Entry[] = [];
  private readonly entryOf = new WeakMap<PoolBuffer, Entry>();

  constructor(
    private readonly create: (size: number, usage: number) => PoolBuffer,
    private readonly destroy: (b: PoolBuffer) => void,
  ) {}

  /**
   * Binds `plan` to the arena (largest planned buffer first, each to the smallest entry that fits;
   * new entries where none does) and frees the buffers of entries that none of `keep` binds.
   * Returns the binding and the bytes of its entries that have no buffer yet.
   */
  bind(plan: BufferPlan, keep: readonly BoundPlan[]): { bound: BoundPlan; unmade: number } {
    // Entries that have no buffer and that no other plan binds are not worth reusing larger.
    const others = new Set(keep.flatMap((p) => p.entries));
    this.entries = this.entries.filter((e) => {
      if (e.buffer !== null || others.has(e)) return true;
      e.dead = true;
      return false;
    });
    const taken = new Set<Entry>();
    const entries = new Array<Entry>(plan.slots.length);
    const order = plan.slots.map((_, j) => j).sort((a, b) => plan.slots[b]!.size - plan.slots[a]!.size);
    for (const j of order) {
      const { size, usage } = plan.slots[j]!;
      let best: Entry | undefined;
      for (const e of this.entries) {
        if (taken.has(e) || e.usage !== usage || e.size < size || e.size > size * MAX_STRETCH) continue;
        if (best === undefined || e.size < best.size) best = e;
      }
      if (best === undefined) {
        best = { size, usage, buffer: null, free: true, dead: false };
        this.entries.push(best);
      }
      taken.add(best);
      entries[j] = best;
    }
    const bound = { plan, entries };
    const kept = new Set([...keep, bound].flatMap((p) => p.entries));
    this.entries = this.entries.filter((e) => {
      if (kept.has(e)) return true;
      e.dead = true;
      if (e.buffer !== null && e.free) this.destroy(e.buffer);
      return false;
    });
    const unmade = entries.reduce((sum, e) => sum + (e.buffer === null ? e.size : 0), 0);
    return { bound, unmade };
  }

  /** The buffer of planned buffer `slot` of `bound`, if it is free (made now if it has none). */
  takePlanned(bound: BoundPlan, slot: number): PoolBuffer | undefined {
    const e = bound.entries[slot]!;
    if (!e.free || e.dead) return undefined;
    return this.take(e);
  }

  /** The smallest free buffer of the arena that holds `size` bytes of `usage`, if one exists already. */
  takeAny(size: number, usage: number): PoolBuffer | undefined {
    let best: Entry | undefined;
    for (const e of this.entries) {
      if (!e.free || e.buffer === null || e.usage !== usage || e.size < size) continue;
      if (best === undefined || e.size < best.size) best = e;
    }
    return best === undefined ? undefined : this.take(best);
  }

  private take(e: Entry): PoolBuffer {
    e.free = false;
    if (e.buffer === null) {
      e.buffer = this.create(e.size, e.usage);
      this.entryOf.set(e.buffer, e);
    }
    return e.buffer;
  }

  /** Takes back a buffer of the arena's (false: not one of its). */
  release(buffer: PoolBuffer): boolean {
    const e = this.entryOf.get(buffer);
    if (e === undefined) return false;
    if (e.dead || e.buffer !== buffer) this.destroy(buffer);
    else e.free = true;
    return true;
  }

  /** Destroys the free buffers (their entries stay: a plan that binds one makes it again). */
  dropFree(): void {
    for (const e of this.entries) {
      if (e.buffer === null || !e.free) continue;
      this.destroy(e.buffer);
      e.buffer = null;
    }
  }

  /** Empties the arena: free buffers are destroyed now, those in use when released. */
  clear(): void {
    for (const e of this.entries) {
      e.dead = true;
      if (e.buffer !== null && e.free) this.destroy(e.buffer);
    }
    this.entries = [];
  }
}
