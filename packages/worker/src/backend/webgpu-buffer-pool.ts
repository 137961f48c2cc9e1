// The webgpu backend's buffer pool, in place of tfjs-backend-webgpu's BufferManager. tfjs keeps a
// freed buffer for a later tensor of exactly the same byte size. A training step's tensors come in
// a hundred or more sizes (a DenseNet's channel counts grow by 32 per conv), so a freed buffer seldom
// fits another, and the device memory of a step was twice the most its live tensors used at once
// (docs/benchmarks.md). Here, between beginMicroBatch and endMicroBatch (withGpuErrorScopes):
// - the first micro-batch of a kind (its key) is recorded: its storage buffers are free planned
//   buffers of other kinds, or created for it and destroyed when freed, so the device holds about
//   its live bytes; buffer-plan.ts plans from their sizes and lifetimes which requests can share a
//   buffer;
// - the next micro-batches of that kind follow the plan: the k-th request takes its planned buffer,
//   which may be larger than the tensor (shaders get a tensor's shape as uniforms, and reads back to
//   the host copy only the tensor's bytes: `logicalSize`, used by the readback installBufferPool
//   puts on the backend). Each run is recorded too: from a request that differs from the plan on,
//   the rest get buffers of their own, and the run's record becomes the kind's new plan (a kind
//   that differs MAX_REPLANS times in a row goes to the exact-size pool). The seed's first step
//   requests other buffers than the next ones do, so its plan settles from step 3 on.
// The planned buffers are the arena's (buffer-arena.ts), shared by the plans of every kind.
// Outside micro-batches (weights, the optimizer's update, `tfjs-ddp eval`) the pool is tfjs' exact-size one.
// TFJS_DDP_WEBGPU_BUFFERS=tfjs keeps tfjs' BufferManager (to compare; install-buffer-pool.ts).

import { BufferArena, type BoundPlan, type PoolBuffer } from './buffer-arena';
import { planBuffers, type RecordedRequest } from './buffer-plan';

export type { PoolBuffer } from './buffer-arena';
export interface PoolDevice {
  createBuffer(d: { size: number; usage: number; mappedAtCreation: boolean }): PoolBuffer;
}

// GPUBufferUsage.STORAGE (the WebGPU spec's value; no global in Node before the binding is loaded).
const STORAGE = 0x80;

/** The micro-batch in progress: its requests as they come, and how they are served. */
interface MicroBatch {
  key: string;
  requests: RecordedRequest[];
  /** Each handed-out storage buffer's request, until it is released. */
  ids: Map<PoolBuffer, number>;
  /** Buffers created for this micro-batch alone: destroyed when released within it. */
  transient: Set<PoolBuffer>;
  events: number;
  plan: BoundPlan | null;
  /** Set once a request differs from the plan's: the rest take any free planned buffer, or their own. */
  diverged: boolean;
}

/** A kind whose micro-batches differ from their plan this many times in a row is served by the exact-size pool. */
const MAX_REPLANS = 3;
/** Plans kept (the most recently used kinds): a rank's micro-batches come in one or two sizes. */
const MAX_PLANS = 4;

/**
 * tfjs-backend-webgpu's BufferManager interface (acquireBuffer, releaseBuffer, the counters the
 * backend's memory() reports, dispose), with micro-batch plans for storage buffers.
 */
export class PlannedBufferPool {
  /** Free buffers by `${size}_${usage}`, as tfjs' (the exact-size pool). */
  freeBuffers = new Map<string, PoolBuffer[]>();
  numFreeBuffers = 0;
  numBytesUsed = 0;
  numBytesAllocated = 0;
  /**
   * The most bytes the device held at once, or will hold once the newest plan is followed (its
   * buffers and what was held outside it when it was made): the high-water mark the memory probe
   * reads (memory/memory-probe.ts), which a recorded micro-batch alone would understate.
   */
  peakBytesAllocated = 0;
  private readonly used = new Set<PoolBuffer>();
  /** The bytes the tensor holding each handed-out buffer asked for. */
  private readonly logical = new WeakMap<PoolBuffer, number>();
  private readonly arena = new BufferArena(
    (size, usage) => this.create(size, usage, false),
    (b) => this.destroy(b),
  );
  /** Per kind, its plan bound to the arena (in order of use, the most recent last). */
  private readonly plans = new Map<string, BoundPlan>();
  /** Per kind, how many micro-batches in a row differed from their plan. */
  private readonly replans = new Map<string, number>();
  private batch: MicroBatch | null = null;
  private disposed = false;

  constructor(private readonly device: PoolDevice) {}

  /** A micro-batch of kind `key` starts: its storage requests are recorded, and follow the kind's plan. */
  beginMicroBatch(key: string): void {
    this.batch = null;
    if ((this.replans.get(key) ?? 0) >= MAX_REPLANS) return;
    const plan = this.plans.get(key) ?? null;
    if (plan !== null) {
      this.plans.delete(key);
      this.plans.set(key, plan);
    }
    this.batch = {
      key,
      requests: [],
      ids: new Map(),
      transient: new Set(),
      events: 0,
      plan,
      diverged: false,
    };
  }

  /** The micro-batch ended, its tensors disposed and their release submitted: plans its kind anew if it did not follow the plan. */
  endMicroBatch(): void {
    const b = this.batch;
    this.batch = null;
    if (b === null) return;
    const followed = b.plan !== null && !b.diverged && b.requests.length === b.plan.plan.sizes.length;
    if (followed) {
      this.replans.delete(b.key);
      return;
    }
    if (b.plan !== null) this.replans.set(b.key, (this.replans.get(b.key) ?? 0) + 1);
    this.plans.delete(b.key);
    while (this.plans.size >= MAX_PLANS) this.plans.delete(this.plans.keys().next().value!);
    const { bound, unmade } = this.arena.bind(planBuffers(b.requests), [...this.plans.values()]);
    this.plans.set(b.key, bound);
    // The storage buffers the exact-size pool kept from before are freed: the plan's take their place.
    this.dropFree(STORAGE);
    this.peakBytesAllocated = Math.max(this.peakBytesAllocated, this.numBytesAllocated + unmade);
  }

  /** Forgets the micro-batch in progress and every plan (after an error), and frees every free buffer. */
  abandon(): void {
    this.batch = null;
    this.arena.clear();
    this.plans.clear();
    this.dropFree();
  }

  acquireBuffer(size: number, usage: number, mappedAtCreation = false, reuse = true): PoolBuffer {
    const b = this.batch;
    let buffer: PoolBuffer | undefined;
    let k = -1;
    if (b !== null && reuse && (usage & STORAGE) !== 0) {
      k = b.requests.length;
      b.requests.push({ size, usage, start: b.events++, end: null });
      const planned = this.fromPlan(b, k, size, usage);
      buffer = planned.buffer;
      // Not planned, or beyond the plan: a free planned buffer, or its own, freed when released
      // within the micro-batch. (One the plan says is held past the micro-batch is not given a
      // planned buffer, which the next micro-batch's plan needs.)
      if (buffer === undefined && !planned.held) buffer = this.arena.takeAny(size, usage);
      if (buffer === undefined && !planned.held) {
        buffer = this.create(size, usage, mappedAtCreation);
        b.transient.add(buffer);
      }
    }
    if (buffer === undefined && reuse && k < 0) {
      // First freed, first reused (tfjs' pool: last): the optimizer makes a step's new weights in
      // one order and frees the old ones in that order, so each weight then alternates between two
      // buffers, and our programs find their bind groups cached (raw-dispatch.ts) instead of making
      // new ones every step.
      buffer = this.freeBuffers.get(key(size, usage))?.shift();
      if (buffer !== undefined) this.numFreeBuffers--;
    }
    buffer ??= this.create(size, usage, mappedAtCreation);
    if (k >= 0) b!.ids.set(buffer, k);
    this.used.add(buffer);
    this.logical.set(buffer, size);
    this.numBytesUsed += buffer.size;
    return buffer;
  }

  /**
   * Request k's planned buffer (undefined: none free, or off the plan), or for one the plan says is
   * held past the micro-batch's end (a result, a weight: `held`), a buffer of the exact-size pool.
   */
  private fromPlan(
    b: MicroBatch,
    k: number,
    size: number,
    usage: number,
  ): { buffer?: PoolBuffer; held: boolean } {
    const p = b.plan;
    if (p === null || b.diverged) return { held: false };
    if (p.plan.sizes[k] !== size) {
      // Off the plan: the free planned buffers go now (the plans that bind them make them again),
      // so that this micro-batch, recorded for a new plan, holds about its live bytes.
      b.diverged = true;
      this.arena.dropFree();
      return { held: false };
    }
    const slot = p.plan.slotOf[k]!;
    if (slot >= 0) return { buffer: this.arena.takePlanned(p, slot), held: false };
    const reused = this.freeBuffers.get(key(size, usage))?.shift();
    if (reused !== undefined) this.numFreeBuffers--;
    return { buffer: reused, held: true };
  }

  releaseBuffer(buffer: PoolBuffer, reuse = true): void {
    if (this.disposed) return;
    if (this.used.delete(buffer)) this.numBytesUsed -= buffer.size;
    const b = this.batch;
    const id = b?.ids.get(buffer);
    if (b !== null && id !== undefined) {
      b.ids.delete(buffer);
      b.requests[id]!.end = b.events++;
      if (b.transient.delete(buffer)) {
        // The device frees it once the work submitted with it is done.
        this.destroy(buffer);
        return;
      }
    }
    if (this.arena.release(buffer)) return;
    if (!reuse) {
      this.destroy(buffer);
      return;
    }
    const k = key(buffer.size, buffer.usage);
    const list = this.freeBuffers.get(k);
    if (list === undefined) this.freeBuffers.set(k, [buffer]);
    else list.push(buffer);
    this.numFreeBuffers++;
  }

  /** The bytes the buffer's tensor asked for (its size where the pool did not hand it out). */
  logicalSize(buffer: PoolBuffer): number {
    return this.logical.get(buffer) ?? buffer.size;
  }

  getNumUsedBuffers(): number {
    return this.used.size;
  }

  getNumFreeBuffers(): number {
    return this.numFreeBuffers;
  }

  dispose(): void {
    this.abandon();
    for (const b of this.used) b.destroy();
    this.used.clear();
    this.numBytesUsed = 0;
    this.numBytesAllocated = 0;
    this.disposed = true;
  }

  private create(size: number, usage: number, mappedAtCreation: boolean): PoolBuffer {
    const b = this.device.createBuffer({ size, usage, mappedAtCreation });
    this.numBytesAllocated += size;
    this.peakBytesAllocated = Math.max(this.peakBytesAllocated, this.numBytesAllocated);
    return b;
  }

  private destroy(b: PoolBuffer): void {
    b.destroy();
    this.numBytesAllocated -= b.size;
  }

  /** Destroys the exact-size pool's free buffers (those with one of the `usage` bits, if given). */
  private dropFree(usage?: number): void {
    for (const list of this.freeBuffers.values()) {
      if (usage !== undefined && list.length > 0 && (list[0]!.usage & usage) === 0) continue;
      for (const b of list) this.destroy(b);
      this.numFreeBuffers -= list.length;
      list.length = 0;
    }
  }
}

const key = (size: number, usage: number): string => `${size}_${usage}`;
