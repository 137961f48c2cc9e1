// Specs of run-documents.ts: the control-plane records mapped to the documents' snake_case keys and back.
import { nonSnakeCaseKeys, type MemoryFitReport, type RankTimings, type WorkerDescription } from '@tfjs-ddp/core';
import { describe, expect, it } from 'vitest';
import { memoryFitFromJson, memoryFitToJson, rankTimingsFromJson, rankTimingsToJson, workerFitFromJson, workerToJson } from './run-documents';

const fit: MemoryFitReport = { budgetBytes: 4e9, usableBytes: 3.8e9, baseBytes: 2e8, bytesPerSample: 4e6, trials: [{ microBatch: 8, peakBytes: 2.3e8, ran: true }, { microBatch: 900, peakBytes: null, ran: false }], capped: false, searchMs: 2500 };
const worker: WorkerDescription = { rank: 1, pid: 42, host: 'h', backend: 'webgpu', device: 'gpu', adapter: { vendor: 'nvidia', architecture: 'hopper', description: 'H200', software: false, selection: null }, params: 10, weightsHash: 'ab12', microBatch: 16, memoryFit: fit, trainCount: 64, testCount: 8 };
const timings: RankTimings = { rank: 0, dataMs: 5, computeMs: 40, allreduceMs: 10, applyMs: 2, microBatches: 3 };

describe('run documents', () => {
  it('write snake_case keys only, with every figure', () => {
    expect(memoryFitToJson(fit)).toEqual({ budget_bytes: 4e9, usable_bytes: 3.8e9, base_bytes: 2e8, bytes_per_sample: 4e6, trials: [{ micro_batch: 8, peak_bytes: 2.3e8, ran: true }, { micro_batch: 900, peak_bytes: null, ran: false }], capped: false, search_ms: 2500 });
    expect(rankTimingsToJson(timings)).toEqual({ rank: 0, data_ms: 5, compute_ms: 40, allreduce_ms: 10, apply_ms: 2, micro_batches: 3 });
    const w = workerToJson(worker);
    expect(w).toMatchObject({ rank: 1, pid: 42, weights_hash: 'ab12', micro_batch: 16, train_count: 64, test_count: 8, adapter: worker.adapter });
    expect(workerToJson({ ...worker, memoryFit: null }).memory_fit).toBeNull();
    expect(nonSnakeCaseKeys([w, rankTimingsToJson(timings)])).toEqual([]);
    expect(nonSnakeCaseKeys([worker, timings])).toContain('[0].weightsHash');
  });

  it('read back what they write, and the camelCase of documents written before', () => {
    expect(memoryFitFromJson(memoryFitToJson(fit))).toEqual(fit);
    expect(memoryFitFromJson(JSON.parse(JSON.stringify(fit)))).toEqual(fit);
    expect(rankTimingsFromJson(rankTimingsToJson(timings))).toEqual(timings);
    expect(rankTimingsFromJson({ ...timings })).toEqual(timings);
    expect(workerFitFromJson(workerToJson(worker))).toEqual({ microBatch: 16, memoryFit: fit });
    expect(workerFitFromJson(JSON.parse(JSON.stringify(worker)))).toEqual({ microBatch: 16, memoryFit: fit });
  });

  it('read what is not a record as nothing, and a missing figure as 0', () => {
    expect(memoryFitFromJson(null)).toBeNull();
    expect(memoryFitFromJson({ trials: [] })).toBeNull();
    expect(rankTimingsFromJson('x')).toBeNull();
    expect(rankTimingsFromJson({ rank: 2, data_ms: 1 })).toEqual({ rank: 2, dataMs: 1, computeMs: 0, allreduceMs: 0, applyMs: 0, microBatches: 0 });
    expect(workerFitFromJson(undefined)).toEqual({ microBatch: null, memoryFit: null });
  });
});
