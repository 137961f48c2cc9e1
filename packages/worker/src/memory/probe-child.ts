// The probe child: a throw-away process that runs full training steps (forward, backward, SGD
// update, and an inference pass) of the real model at the micro-batches it is sent, on the task's
// first training samples (repeated when there are fewer), and reports the high-water mark of the memory that limits the backend
// after each. It may run out of memory — on wasm that corrupts the backend for good — which is why
// it is a separate process: the worker that will train never runs a step that might not fit.
import type { Trial } from '@tfjs-ddp/core';
import type { TaskWorkerSettings } from '../task/open-task';
import { installExactHeapGrowth } from './exact-heap-growth';

export interface ProbeRequest {
  type: 'probe';
  backend: string;
  /** The task and its settings, as the worker has them. */
  settings: TaskWorkerSettings;
  /** Increasing micro-batches; stop at the first that fails. */
  sizes: number[];
}

export type ProbeReply =
  | { type: 'ready'; backend: string }
  | { type: 'trial'; trial: Trial & { ms: number } }
  /** A trial failed for another reason than memory (the task's modules, a loss that throws): the search stops with it. */
  | { type: 'error'; microBatch: number; code: string; message: string; hint?: string }
  | { type: 'done' };

async function main(): Promise<void> {
  const req = await new Promise<ProbeRequest>((resolve) => process.once('message', (m) => resolve(m as ProbeRequest)));
  if (req.backend === 'wasm' || req.backend === 'auto') installExactHeapGrowth();
  // Imported after the hook: the wasm module must be instantiated through it.
  const tf = await import('@tensorflow/tfjs-core');
  const { selectBackend } = await import('../backend/select-backend');
  const { openTask } = await import('../task/open-task');
  const { Trainer } = await import('../train/trainer');
  const { peakBytes } = await import('./memory-probe');
  const { withGpuErrorScopes } = await import('../backend/webgpu-scopes');
  const { isBackendCorrupted, isOutOfMemoryError } = await import('../engine/memory-errors');
  const backend = await selectBackend(req.backend as 'auto');
  const send = (m: ProbeReply) => new Promise<void>((resolve) => process.send!(m, () => resolve()));
  await send({ type: 'ready', backend: backend.chosen });
  const task = await openTask(req.settings, 0, process.env);
  const trainer = new Trainer(task.model, { lr: 0.01 }, task, task.optimizer);
  const grad = trainer.newGradientBuffer();
  for (const b of req.sizes) {
    const t0 = performance.now();
    try {
      const indices = Uint32Array.from({ length: b }, (_, i) => i % Math.max(1, task.train.size));
      const { xs, ys } = await task.batch(task.train, indices);
      grad.fill(0);
      // As the engine runs a micro-batch: on webgpu inside error scopes (an out-of-memory is this
      // trial's failure), and with its buffer plan, whose footprint the high-water mark includes.
      await withGpuErrorScopes(() => trainer.accumulate({ x: xs, y: ys }, grad), { plan: `train:${b}` });
      trainer.apply(grad, b);
      await withGpuErrorScopes(() => trainer.evaluate({ x: xs, y: ys }), { plan: `eval:${b}` });
      tf.dispose([xs, ys]);
      await send({ type: 'trial', trial: { microBatch: b, ran: true, peakBytes: peakBytes(backend.chosen), ms: performance.now() - t0 } });
    } catch (e) {
      if (!isOutOfMemoryError(e) && !isBackendCorrupted(e)) {
        await send({ type: 'error', microBatch: b, ...describeError(e) });
        break;
      }
      await send({ type: 'trial', trial: { microBatch: b, ran: false, peakBytes: null, error: e instanceof Error ? e.message.split('\n')[0]! : String(e), ms: performance.now() - t0 } });
      break;
    }
  }
  await send({ type: 'done' });
  (await import('../backend/webgpu')).shutdownWebGpu();
  process.disconnect();
}

/** A DdpError's code, message and hint (its message without them), or any other error's first line. */
function describeError(e: unknown): { code: string; message: string; hint?: string } {
  if (e instanceof Error && 'code' in e && typeof e.code === 'string' && e.code.startsWith('E_')) {
    const hint = 'hint' in e && typeof e.hint === 'string' ? e.hint : undefined;
    let message = e.message.startsWith(`${e.code}: `) ? e.message.slice(e.code.length + 2) : e.message;
    if (hint !== undefined && message.endsWith(`; ${hint}`)) message = message.slice(0, -hint.length - 2);
    return { code: e.code, message, ...(hint !== undefined ? { hint } : {}) };
  }
  return { code: '', message: e instanceof Error ? e.message.split('\n')[0]! : String(e) };
}

void main().catch((e: unknown) => {
  process.stderr.write(`probe child failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
