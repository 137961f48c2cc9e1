// What limits a worker's micro-batch, per backend, and how to read its high-water mark:
//   wasm            — the wasm heap (HEAPU8.length only grows), capped at 4 GiB − 64 KiB by tfjs' build;
//   webgpu          — the high-water mark of the bytes the webgpu backend has allocated on the GPU
//                     (backend/webgpu-buffer-pool.ts), against the GPU's memory less what other
//                     processes hold on it (nvidia-smi), or --memory-budget; a software adapter
//                     (lavapipe) has no GPU memory of its own and needs --memory-budget;
//   tensorflow-gpu  — this process's GPU memory (TF's allocator with allow-growth never gives memory
//                     back, so it is a high-water mark), read with nvidia-smi, against the device's total;
//   tensorflow, cpu — the process's peak resident memory (maxRSS), against --memory-budget or, by
//                     default, this machine's memory divided by its cores (one worker per core).
// A configured --memory-budget caps the budget on every backend.
import { execFileSync } from 'node:child_process';
import { availableParallelism, totalmem } from 'node:os';
import { DdpError, formatBytes } from '@tfjs-ddp/core';
import { wasmHeapBytes } from '../backend/select-backend';
import { activeAdapter } from '../backend/webgpu';
import { gpuBytesAllocated } from '../backend/webgpu-scopes';

/** The largest wasm heap tfjs-backend-wasm 4.22 can grow to (its getHeapMax()). */
export const WASM_HEAP_MAX = 4_294_901_760;

export type ProbedBackend = 'tensorflow-gpu' | 'webgpu' | 'tensorflow' | 'wasm' | 'cpu';

/** nvidia-smi's MiB fields of `--query-compute-apps=pid,used_memory --format=csv,noheader,nounits` for `pid`. */
export function parseGpuProcessMemory(csv: string, pid: number): number | null {
  let total: number | null = null;
  for (const line of csv.split('\n')) {
    const [p, mib] = line.split(',').map((s) => s.trim());
    if (Number(p) === pid && Number.isFinite(Number(mib))) total = (total ?? 0) + Number(mib) * 2 ** 20;
  }
  return total;
}

/** The first CUDA device this process sees (CUDA_VISIBLE_DEVICES), as nvidia-smi numbers it. */
function visibleGpu(env: Record<string, string | undefined>): string {
  const first = (env['CUDA_VISIBLE_DEVICES'] ?? '0').split(',')[0]!.trim();
  return /^\d+$/.test(first) ? first : '0';
}

function nvidiaSmi(args: string[]): string {
  return execFileSync('nvidia-smi', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
}

/** The high-water mark of the memory that limits `backend`, in bytes; null when it cannot be read. */
export function peakBytes(backend: ProbedBackend, pid = process.pid): number | null {
  if (backend === 'wasm') return wasmHeapBytes();
  if (backend === 'webgpu') return gpuBytesAllocated();
  if (backend === 'tensorflow-gpu') {
    try {
      return parseGpuProcessMemory(nvidiaSmi(['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits']), pid);
    } catch {
      return null;
    }
  }
  return process.resourceUsage().maxRSS * 1024;
}

/**
 * The bytes a worker's micro-batch may use on `backend`: the backend's own limit, capped by the
 * configured budget.
 * @throws DdpError E_MEMORY when the GPU's memory cannot be read and no budget is configured.
 */
export function memoryBudget(backend: ProbedBackend, configured: number | null, env: Record<string, string | undefined> = process.env): number {
  const cap = (limit: number) => (configured === null ? limit : Math.min(configured, limit));
  if (backend === 'wasm') return cap(WASM_HEAP_MAX);
  if (backend === 'webgpu') return webgpuBudget(configured, env);
  if (backend === 'tensorflow-gpu') {
    let total: number | null = null;
    try {
      const mib = Number(nvidiaSmi(['--query-gpu=memory.total', '--format=csv,noheader,nounits', '-i', visibleGpu(env)]).trim().split('\n')[0]);
      total = Number.isFinite(mib) && mib > 0 ? mib * 2 ** 20 : null;
    } catch {
      total = null;
    }
    if (total !== null) return cap(total);
    if (configured !== null) return configured;
    throw new DdpError('E_MEMORY', 'cannot read the GPU memory size with nvidia-smi', 'pass --memory-budget (e.g. 10GiB) or --micro-batch N');
  }
  return configured ?? Math.floor(totalmem() / availableParallelism());
}

/** nvidia-smi's `memory.total,memory.used` (MiB) → bytes free for this process: total less what others hold. */
export function parseGpuMemory(csv: string): { total: number; free: number } | null {
  const [total, used] = (csv.trim().split('\n')[0] ?? '').split(',').map((x) => Number(x.trim()));
  if (total === undefined || used === undefined || !(total > 0) || !Number.isFinite(used)) return null;
  return { total: total * 2 ** 20, free: Math.max(0, total - used) * 2 ** 20 };
}

function webgpuBudget(configured: number | null, env: Record<string, string | undefined>): number {
  const adapter = activeAdapter();
  if (adapter?.software === true) {
    if (configured !== null) return configured;
    throw new DdpError('E_MEMORY', `the WebGPU adapter is a software one (${adapter.description}), which has no GPU memory to measure against`, 'pass --memory-budget (e.g. 2GiB) or --micro-batch N');
  }
  let mem: { total: number; free: number } | null = null;
  try {
    mem = parseGpuMemory(nvidiaSmi(['--query-gpu=memory.total,memory.used', '--format=csv,noheader,nounits', '-i', visibleGpu(env)]));
  } catch {
    mem = null;
  }
  if (mem !== null) return configured === null ? mem.free : Math.min(configured, mem.free);
  if (configured !== null) return configured;
  throw new DdpError('E_MEMORY', 'cannot read the GPU memory size: nvidia-smi is not there (WebGPU itself has no memory query)', 'pass --memory-budget (e.g. 10GiB) or --micro-batch N');
}

export function describeBudget(backend: ProbedBackend, bytes: number, configured: number | null): string {
  const what = backend === 'wasm' ? 'wasm heap' : backend === 'tensorflow-gpu' || backend === 'webgpu' ? 'GPU memory' : 'resident memory';
  return `${formatBytes(bytes)} of ${what}${configured !== null && configured <= bytes ? ' (--memory-budget)' : ''}`;
}
