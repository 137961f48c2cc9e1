// KernelScope: calls other kernels of the same backend from inside a kernel function, and frees
// every intermediate it made. Composite kernels (conv backprop via matmul/conv) are built on it.
import {
  getKernel,
  type KernelBackend,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';

type KernelFn = (args: { inputs: NamedTensorInfoMap; backend: KernelBackend; attrs?: NamedAttrMap }) => TensorInfo | TensorInfo[];

export class KernelScope {
  private readonly made: TensorInfo[] = [];
  private readonly fns = new Map<string, KernelFn>();

  constructor(
    readonly backend: KernelBackend,
    private readonly backendName: string,
  ) {}

  /** Runs kernel `name` of this backend; its output is freed by `finish` unless it is returned. */
  run(name: string, inputs: NamedTensorInfoMap, attrs: object = {}): TensorInfo {
    let fn = this.fns.get(name);
    if (fn === undefined) {
      const k = getKernel(name, this.backendName);
      if (k === undefined) throw new Error(`kernel ${name} is not registered for backend ${this.backendName}`);
      fn = k.kernelFunc as KernelFn;
      this.fns.set(name, fn);
    }
    const out = fn({ inputs, backend: this.backend, attrs: attrs as NamedAttrMap });
    const info = Array.isArray(out) ? out[0]! : out;
    this.made.push(info);
    return info;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  /** Takes a tensor made outside `run` (e.g. by a JS loop) into the scope, to be freed by `finish`. */
  adopt(t: TensorInfo): TensorInfo {
    this.made.push(t);
    return t;
  }

  /** Frees every intermediate except `keep`, which the engine takes over as the kernel's output. */
  finish(keep: TensorInfo): TensorInfo {
    for (const t of this.made) {
      if (t !== keep) this.backend.disposeData(t.dataId);
    }
    this.made.length = 0;
    return keep;
  }
}
