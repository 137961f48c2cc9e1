// For the webgpu specs: the GPU dispatches recorded while a function runs, counted at the WebGPU API
// (GPUComputePassEncoder.dispatchWorkgroups), so every path is seen: tfjs' programs and ours.
type Dispatch = (...a: number[]) => void;

export async function countDispatches<T>(
  f: () => T | Promise<T>,
): Promise<{ result: T; dispatches: number }> {
  const proto = (
    globalThis as unknown as { GPUComputePassEncoder: { prototype: { dispatchWorkgroups: Dispatch } } }
  ).GPUComputePassEncoder.prototype;
  const original = proto.dispatchWorkgroups;
  let dispatches = 0;
  proto.dispatchWorkgroups = function (this: unknown, ...a: number[]) {
    dispatches++;
    return original.apply(this, a);
  };
  try {
    return { result: await f(), dispatches };
  } finally {
    proto.dispatchWorkgroups = original;
  }
}
