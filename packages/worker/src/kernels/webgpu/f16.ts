// TFJS_DDP_WEBGPU_F16: half-precision arithmetic in our forward conv on webgpu, where the adapter
// offers WebGPU's shader-f16. Off by default: float32 everywhere, as on every other backend. The
// tolerance to float32 and why only the forward conv: docs/kernels.md ("webgpu: f16").
import { DdpError } from '@tfjs-ddp/core';

/** Whether TFJS_DDP_WEBGPU_F16 asks for f16 (`1`) or not (unset, empty or `0`). */
export function webGpuF16Choice(env: Record<string, string | undefined> = process.env): boolean {
  const v = env['TFJS_DDP_WEBGPU_F16'];
  if (v === undefined || v === '' || v === '0') return false;
  if (v === '1') return true;
  throw new DdpError(
    'E_CONFIG',
    `TFJS_DDP_WEBGPU_F16=${v}: expected 1 (f16 arithmetic in the forward conv) or 0 (float32, the default)`,
    'set TFJS_DDP_WEBGPU_F16=1 or unset it',
  );
}

/**
 * The features to ask of the device: shader-f16 wherever the adapter offers it (asking costs
 * nothing; bench:kernels times both precisions in one process), and an error naming the adapter
 * when a setting needs it (`need`: 'TFJS_DDP_WEBGPU_F16=1', 'TFJS_DDP_WEBGPU_CONV=mma-fma') and it
 * offers none.
 * @throws DdpError E_GPU_UNAVAILABLE
 */
export function f16Features(
  need: string | null,
  adapter: { shaderF16: boolean; description: string },
): string[] {
  if (adapter.shaderF16) return ['shader-f16'];
  if (need === null) return [];
  throw new DdpError(
    'E_GPU_UNAVAILABLE',
    `${need}, but the WebGPU adapter ${adapter.description} does not offer shader-f16`,
    `unset ${need.split('=')[0]} to train in float32 on it`,
  );
}

/** Whether the device behind a webgpu backend was created with shader-f16. */
export function deviceHasF16(backend: object): boolean {
  const device = (backend as { device?: { features?: { has(name: string): boolean } } }).device;
  return device?.features?.has('shader-f16') === true;
}
