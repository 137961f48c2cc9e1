// InProcessGroup: a WorkerGroup whose ranks are WorkerEngines in this process, run one after the
// other, with the gradient sum reduced in memory. World size 1 is the single-worker training run;
// larger worlds are the reference the multi-process group is tested against.
import { hostname } from 'node:os';
import { DdpError, digestOfState, traceTime, type RankTraceSink, type TraceSpan, type EvalOutcome, type SaveRequest, type StepOutcome, type StepPlan, type TrainingState, type WorkerDescription, type WorkerGroup } from '@tfjs-ddp/core';
import { evalShards } from '@tfjs-ddp/data';
import type { WorkerEngine } from './worker-engine';

export class InProcessGroup implements WorkerGroup {
  private constructor(
    private readonly engines: WorkerEngine[],
    private readonly descriptions: WorkerDescription[],
    private readonly trace: RankTraceSink | null,
  ) {}

  /** `trace`: where each rank's timeline spans go (--timeline); on this process's clock, offset 0. */
  static async create(engines: WorkerEngine[], o: { trace?: RankTraceSink } = {}): Promise<InProcessGroup> {
    const descriptions = await Promise.all(engines.map((e, rank) => e.describe(rank)));
    return new InProcessGroup(engines, descriptions, o.trace ?? null);
  }

  get worldSize(): number {
    return this.engines.length;
  }

  describe(): WorkerDescription[] {
    return this.descriptions;
  }

  async step(plan: StepPlan): Promise<StepOutcome> {
    const results = [];
    for (const slice of plan.slices) {
      results.push(await this.engines[slice.rank]!.computeGradients(slice.indices, slice.microBatch, { rank: slice.rank, step: plan.step, attempt: plan.attempt }));
    }
    const t0 = performance.now();
    const sum = results[0]!.buffer;
    for (const r of results.slice(1)) for (let i = 0; i < sum.length; i++) sum[i]! += r.buffer[i]!;
    const reduceMs = performance.now() - t0;
    let metrics: EvalOutcome & { aborted: boolean; skipped: boolean } = { lossSum: 0, correct: 0, count: 0, aborted: false, skipped: false };
    const timings = [];
    for (let rank = 0; rank < this.engines.length; rank++) {
      const a = performance.now();
      metrics = this.engines[rank]!.applyReduced(sum, plan.lrFactor ?? 1);
      const b = performance.now();
      const r = results[rank]!;
      timings.push({ rank, dataMs: r.dataMs, computeMs: r.computeMs, allreduceMs: reduceMs, applyMs: b - a, microBatches: r.microBatches });
      if (this.trace !== null) {
        const first = r.spans[0]?.start ?? t0;
        const spans: TraceSpan[] = [
          { name: `step ${plan.step}`, start: first, end: b, args: { step: plan.step, attempt: plan.attempt, samples: plan.slices[rank]?.indices.length ?? 0, micro_batches: r.microBatches } },
          ...r.spans,
          { name: 'all-reduce (in memory)', start: t0, end: t0 + reduceMs },
          { name: 'apply', start: a, end: b },
        ];
        this.trace(rank, spans.map((s) => ({ ...s, start: traceTime(s.start), end: traceTime(s.end) })), { pid: process.pid, host: hostname(), clockOffsetMs: 0 });
      }
    }
    const oom = results.flatMap((r, rank) => (r.oom === null ? [] : [{ rank, ...r.oom }]));
    const dead = oom.find((o) => o.fatal);
    if (dead !== undefined) {
      throw new DdpError('E_MEMORY', `the backend of rank ${dead.rank} crashed at step ${plan.step} (${dead.reason}) and cannot be used again`, 'a worker in the coordinator\'s process cannot be replaced: run with --workers 2 or more, or a smaller --micro-batch / --memory-budget');
    }
    return { lossSum: metrics.lossSum, correct: metrics.correct, count: metrics.count, metrics: metrics.metrics ?? [], aborted: metrics.aborted, skipped: metrics.skipped, oom, restarts: [], timings };
  }

  async evaluate(limit: number | null = null): Promise<EvalOutcome> {
    await this.syncBatchNormStats();
    const out: EvalOutcome = { lossSum: 0, correct: 0, count: 0, metrics: (this.descriptions[0]!.metricNames ?? []).map(() => 0) };
    const shards = evalShards(Math.min(this.descriptions[0]!.testCount, limit ?? Infinity), this.engines.length);
    for (const [rank, e] of this.engines.entries()) {
      const r = await e.evaluate(shards[rank]!.start, shards[rank]!.end);
      out.lossSum += r.lossSum;
      out.correct += r.correct;
      out.count += r.count;
      r.metrics?.forEach((v, j) => (out.metrics![j]! += v));
    }
    return out;
  }

  async checksums(): Promise<string[]> {
    return Promise.all(this.engines.map((e) => e.weightsChecksum()));
  }

  async save(req: SaveRequest): Promise<string[]> {
    await this.syncBatchNormStats();
    return this.engines[0]!.save(req.dir, req.meta);
  }

  async snapshot(meta: Record<string, unknown>): Promise<{ files: Record<string, Uint8Array>; state: TrainingState }> {
    await this.syncBatchNormStats();
    const e = this.engines[0]!;
    const raw = await e.exportFiles(meta);
    const files = Object.fromEntries(Object.entries(raw).map(([n, c]) => [n, typeof c === 'string' ? new TextEncoder().encode(c) : c]));
    return { files, state: { ...(await e.exportState()), checksum: await e.weightsChecksum() } };
  }

  async restore(state: TrainingState): Promise<void> {
    for (const [rank, e] of this.engines.entries()) {
      await e.importState(state);
      const sum = await e.weightsChecksum();
      if (sum !== state.checksum) throw new DdpError('E_DIVERGED', `rank ${rank} has weights ${sum} after loading a state with checksum ${state.checksum}`, 'the checkpoint does not belong to this model: check --resize, --pool and the tfjs-ddp version');
      // The weights agree; the optimizer slots and BatchNorm statistics must too (the weights alone would not show a slot lost).
      if (digestOfState(await e.exportState()) !== digestOfState(state)) throw new DdpError('E_DIVERGED', `rank ${rank} holds a training state other than the checkpoint's after loading it: its weights agree (checksum ${state.checksum}), its optimizer slots or BatchNorm statistics do not`, 'this is a bug, or the checkpoint was taken with another optimizer: report it with the run directory');
    }
  }

  /** Averages the BatchNorm moving statistics over the ranks and gives every rank the average. */
  private async syncBatchNormStats(): Promise<void> {
    if (this.engines.length === 1) return;
    const stats = await Promise.all(this.engines.map((e) => e.readBatchNormStats()));
    const avg = new Float32Array(stats[0]!.length);
    for (const s of stats) for (let i = 0; i < avg.length; i++) avg[i]! += s[i]! / stats.length;
    this.engines.forEach((e) => e.writeBatchNormStats(avg));
  }

  async close(): Promise<void> {
    this.engines.forEach((e) => e.dispose());
  }
}
