// bench:step — training-step throughput of the seed DenseNet in one process, per backend.
// Prints one JSON line per backend: samples/s after warm-up, step time, and the high-water mark
// of the memory that limits the backend (wasm heap, or bytes allocated on the GPU by webgpu),
// absolute and per sample. Usage:
//   npm run bench:step -- [--backend wasm[,cpu,...]] [--batch 64] [--size 96] [--steps 4] [--warmup 2]
//     [--path trainer|task] [--model M.mjs --data D.mjs] [--gpu-profile] [--host-only]
// Each backend runs in its own child process so that one backend's heap cannot skew another's.
// --path trainer (the default) times the DenseNet's Trainer on prepared batches, as before the task
// seam; --path task times what a worker runs: the built-in task (builtin:densenet, builtin:fashion-
// mnist on a synthetic IDX set) through WorkerEngine.computeGradients and applyReduced; with --model
// M --data D, a user's task (its own modules, e.g. docs/examples/cnn-image-folder) the same way.
// Per timed step it also prints the tfjs kernels run, the host milliseconds inside them, and on
// webgpu the GPU dispatches and submits recorded and the host milliseconds spent recording them,
// and the bind groups and buffers created (a repeated step that keeps creating buffers leaks or
// misses its pool) (tools/step-counters.ts), the ten costliest top-level kernels by host time (`top_kernels`; the
// environment variable TOP_KERNELS=N lists N) and every top-level kernel by calls (`kernel_calls`).
// --gpu-profile (webgpu): one more step with tfjs' program timers on (kernels/webgpu/gpu-profile.ts),
// printed as `gpu_profile`: GPU milliseconds per program, the most first; that step runs a pass per
// dispatch, so only its per-program times mean anything, not its length.
// --host-only (webgpu): Dawn's null backend, which validates and records every command and runs
// none, so a step takes the host's time alone, the GPU's excluded (issue 19's measure of a step's
// host cost); `host_step_ms` is then the median of as many more steps without the counters (their
// own timing adds to step_ms). Nothing is computed: the loss and gradients read back as zeros.
// The null adapter allows 8 storage buffers per shader stage where lavapipe allows 16, so the
// BatchNorm programs over dense-block parts take more dispatches there.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { installStepCounters } from './step-counters.js';
import { buildDenseNet, gpuBytesAllocated, openTask, profileGpuPrograms, prepareBatch, selectBackend, shutdownWebGpu, Trainer, trainableParamCount, wasmHeapBytes, wasmTensorBytes, WorkerEngine, type BackendChoice, type BackendInfo } from '@tfjs-ddp/worker';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    batch: { type: 'string', default: '64' },
    size: { type: 'string', default: '96' },
    steps: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '2' },
    path: { type: 'string', default: 'trainer' },
    // A task of the user's kind instead of the seed (--path task): its model and data modules.
    model: { type: 'string' },
    data: { type: 'string' },
    child: { type: 'boolean', default: false },
    'gpu-profile': { type: 'boolean', default: false },
    'host-only': { type: 'boolean', default: false },
  },
});

/** One training step of the seed, timed: the Trainer alone, or the task path a worker runs. */
async function stepper(path: string, info: BackendInfo, batch: number, size: number): Promise<{ step: () => Promise<number>; params: number }> {
  if (path === 'task') {
    const modules = values.model !== undefined && values.data !== undefined ? { model: resolve(values.model), data: resolve(values.data) } : null;
    if ((values.model === undefined) !== (values.data === undefined)) throw new Error('--model and --data go together');
    const dataDir = mkdtempSync(join(tmpdir(), 'bench-step-'));
    // Its own synthetic files (or nothing, with --model/--data): gone with the process.
    process.once('exit', () => rmSync(dataDir, { recursive: true, force: true }));
    if (modules === null) await writeSyntheticFashionMnist(dataDir, { train: batch, test: 8, seed: 1 });
    const settings = { lr: 0.1, momentum: 0, resize: size, pool: 'max' as const, seed: 0, batchNorm: true, dataDir, verifyData: false, ...(modules !== null ? { task: modules } : {}) };
    const task = await openTask(settings, 0, process.env);
    const engine = new WorkerEngine(task, { ...settings, microBatch: batch }, info);
    // The first `batch` samples (repeated where the split is smaller).
    const indices = Uint32Array.from({ length: batch }, (_, i) => i % task.train.size);
    const params = trainableParamCount(task.model);
    return {
      params,
      step: async () => {
        const t0 = performance.now();
        const r = await engine.computeGradients(indices);
        // Dawn's null backend reads back whatever its staging memory held: zeros instead, so that
        // every step is applied (a non-finite gradient would skip the update) as on a GPU.
        // (The buffer's gradient part: the parameters, before the loss, correct and count slots.)
        if (values['host-only']) r.buffer.fill(0, 0, params);
        engine.applyReduced(r.buffer);
        return performance.now() - t0;
      },
    };
  }
  if (path !== 'trainer') throw new Error(`--path ${path}: trainer or task`);
  const trainer = new Trainer(buildDenseNet({ inputSize: size }), { lr: 0.1 });
  // Random images and labels: throughput does not depend on the pixel values.
  const images = Uint8Array.from({ length: batch * 28 * 28 }, (_, i) => (i * 2654435761) >>> 24);
  const labels = Uint8Array.from({ length: batch }, (_, i) => i % 10);
  return {
    params: trainableParamCount(trainer.model),
    step: async () => {
      const t0 = performance.now();
      const b = prepareBatch(images, labels, 28, 28, size);
      const g = trainer.newGradientBuffer();
      const r = await trainer.accumulate(b, g);
      if (values['host-only']) g.fill(0); // as on the task path
      trainer.apply(g, r.count);
      tf.dispose([b.x, b.y]);
      return performance.now() - t0;
    },
  };
}

async function runOne(backend: BackendChoice, batch: number, size: number, steps: number, warmup: number, path: string): Promise<object> {
  const hostOnly = values['host-only'];
  if (hostOnly && backend !== 'webgpu') throw new Error(`--host-only measures webgpu's host time; not --backend ${backend}`);
  const info = await selectBackend(backend, { dawnNull: hostOnly });
  const heap0 = wasmHeapBytes();
  const gpu0 = gpuBytesAllocated();
  const { step, params } = await stepper(path, info, batch, size);
  for (let i = 0; i < warmup; i++) await step();
  const rest = wasmTensorBytes(true);
  const counters = installStepCounters();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) times.push(await step());
  const counts = counters.take();
  counters.uninstall();
  const uncounted: number[] = [];
  if (hostOnly) for (let i = 0; i < steps; i++) uncounted.push(await step());
  const perStep = (v: number | null, digits = 0) => (v === null ? null : Number((v / steps).toFixed(digits)));
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  const heap = wasmHeapBytes();
  const tensors = wasmTensorBytes();
  const gpu = gpuBytesAllocated();
  const profile = values['gpu-profile'] && info.chosen === 'webgpu' ? await profileGpuPrograms(step) : null;
  const perSample = (now: number | null, before: number | null) => (now === null || before === null ? null : Number(((now - before) / 2 ** 20 / batch).toFixed(1)));
  return {
    bench: 'step',
    backend: info.chosen,
    device: info.device,
    model: values.model ?? 'densenet-d2l',
    path,
    params,
    batch,
    size,
    steps,
    step_ms: Math.round(mean),
    step_ms_min: Math.round(Math.min(...times)),
    samples_per_s: Number(((batch * 1000) / mean).toFixed(2)),
    ...(hostOnly
      ? {
          host_only: true,
          // The median: the VM's pauses (and the collector's) move a mean of a few steps.
          host_step_ms: Number([...uncounted].sort((a, b) => a - b)[Math.floor(steps / 2)]!.toFixed(1)),
          host_step_ms_min: Number(Math.min(...uncounted).toFixed(1)),
        }
      : {}),
    kernels_per_step: perStep(counts.kernels),
    kernel_host_ms: perStep(counts.kernelHostMs, 1),
    dispatches_per_step: perStep(counts.dispatches),
    dispatch_host_ms: perStep(counts.dispatchHostMs, 1),
    submits_per_step: perStep(counts.submits, 1),
    bind_groups_per_step: perStep(counts.bindGroups, 1),
    buffers_created_per_step: perStep(counts.buffers, 1),
    // The ten costliest top-level kernels of a step: name, calls and host ms per step.
    top_kernels: counts.byKernel.slice(0, Number(process.env.TOP_KERNELS ?? 10)).map((k) => `${k.name} ${perStep(k.calls)}× ${perStep(k.ms, 1)} ms`),
    // Every top-level kernel of a step by calls (kernels_per_step also counts the nested ones).
    kernel_calls: [...counts.byKernel].sort((a, b) => b.calls - a.calls).map((k) => `${k.name} ${perStep(k.calls)}`).join(', '),
    // webgpu: a step's GPU dispatches by the top-level kernel that recorded them.
    dispatch_calls: counts.dispatchesByKernel === null ? null : counts.dispatchesByKernel.map((k) => `${k.name} ${perStep(k.dispatches)}`).join(', '),
    heap_mib: heap === null ? null : Math.round(heap / 2 ** 20),
    heap_per_sample_mib: perSample(heap, heap0),
    // wasm: the most tensor data held at once during the timed steps (bytes as requested, without
    // the allocator's overhead or fragmentation), and per sample above what is held between steps.
    tensor_peak_mib: tensors === null ? null : Math.round(tensors.peak / 2 ** 20),
    tensor_peak_per_sample_mib: tensors === null || rest === null ? null : perSample(tensors.peak, rest.live),
    gpu_mib: gpu === null ? null : Math.round(gpu / 2 ** 20),
    gpu_per_sample_mib: perSample(gpu, gpu0),
    adapter: info.adapter === null ? null : `${info.adapter.vendor} ${info.adapter.architecture}: ${info.adapter.description}`,
    ...(profile === null
      ? {}
      : {
          gpu_profile: {
            timestamps: profile.timestamps,
            dispatches: profile.dispatches,
            gpu_ms: Number(profile.gpuMs.toFixed(2)),
            programs: profile.programs.slice(0, Number(process.env.TOP_KERNELS ?? 15)).map((p) => `${p.name} ${p.dispatches}× ${p.gpuMs.toFixed(2)} ms`),
          },
        }),
    node: process.version,
  };
}

const [batch, size, steps, warmup] = [values.batch, values.size, values.steps, values.warmup].map(Number) as [number, number, number, number];
if (values.child) {
  console.log(JSON.stringify(await runOne(values.backend as BackendChoice, batch, size, steps, warmup, values.path)));
  shutdownWebGpu();
} else {
  // The child runs as this process does: through tsx's loader (its flags are in execArgv), or bundled (gpu-check).
  const self = fileURLToPath(import.meta.url);
  for (const backend of values.backend.split(',')) {
    const args = [...process.execArgv, self, '--child', '--backend', backend, '--batch', String(batch), '--size', String(size), '--steps', String(steps), '--warmup', String(warmup), '--path', values.path, ...(values.model !== undefined ? ['--model', values.model] : []), ...(values.data !== undefined ? ['--data', values.data] : []), ...(values['gpu-profile'] ? ['--gpu-profile'] : []), ...(values['host-only'] ? ['--host-only'] : [])];
    const out = execFileSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    process.stdout.write(out.split('\n').filter((l) => l.startsWith('{')).join('\n') + '\n');
  }
}
