// Identity on the wasm backend without a copy: the output shares the input's memory, with one more
// reference to it, as Reshape does on wasm and Identity does on the cpu backend. tfjs runs Identity
// for every tensor it saves for the backward pass (engine.clone); the stock wasm kernel copies each,
// 211 copies and 41 ms of the seed's step at batch 64 (bench:step's top_kernels, docs/kernels.md).
// Sharing is safe because no kernel writes into its inputs: tensors are immutable in tfjs, and a
// variable's assign takes a new data id. Registered by fast-kernels.ts.
import { cast, engine as tfEngine, getBackend, getKernel, Identity, type DataId, type KernelConfig, type Tensor, type TensorInfo } from '@tensorflow/tfjs-core';

interface RefCountingBackend {
  incRef(dataId: DataId): void;
}

/** The wasm Identity kernel that shares its input's data; strings keep the stock kernel. */
export function shareIdentityConfig(): KernelConfig {
  const previous = getKernel(Identity, 'wasm')?.kernelFunc;
  return {
    kernelName: Identity,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const x = args.inputs['x'] as TensorInfo;
      if (x.dtype === 'string') {
        if (previous === undefined) throw new Error('Identity on wasm: no stock kernel for strings');
        return previous(args);
      }
      (args.backend as unknown as RefCountingBackend).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  };
}

/**
 * Backends whose Identity shares its input's memory: wasm with the kernel above, cpu and webgpu
 * (tfjs-backend-webgpu 4.22's own Identity increments the reference count and returns the input).
 */
const SHARING: readonly string[] = ['wasm', 'cpu', 'webgpu'];

interface CloningEngine {
  backend: RefCountingBackend;
  state: { activeScope: { name: string } };
  clone(x: Tensor): Tensor;
  makeTensorFromTensorInfo(info: TensorInfo, backend?: unknown): Tensor;
  addTapeNode(scopeName: string, inputs: Record<string, Tensor>, outputs: Tensor[], gradientsFunc: (dy: Tensor) => Record<string, () => Tensor>, saved: Tensor[], attrs: object): void;
}

let clonesShared = false;

/**
 * tfjs keeps every tensor a gradient function needs (customGrad's save, each kernel's saved inputs
 * and outputs) as a clone made by engine.clone, which dispatches the Identity kernel: 253 per step of
 * the seed DenseNet, the largest count of any kernel. Where Identity shares memory (SHARING),
 * engine.clone makes the clone as that kernel would, without the dispatch: the
 * same memory, one more reference, and the tape node engine.clone adds itself (its gradient passes
 * dy on, as the Identity gradient registered in fast-kernels.ts does). Other backends (tensorflow)
 * and strings keep the stock clone. Once per process.
 */
export function shareClones(): void {
  if (clonesShared) return;
  clonesShared = true;
  const engine = tfEngine() as unknown as CloningEngine;
  const stock = engine.clone.bind(engine);
  engine.clone = (x: Tensor): Tensor => {
    const name = getBackend();
    if (!SHARING.includes(name) || x.dtype === 'string') return stock(x);
    engine.backend.incRef(x.dataId);
    const y = engine.makeTensorFromTensorInfo({ dataId: x.dataId, shape: x.shape, dtype: x.dtype });
    engine.addTapeNode(engine.state.activeScope.name, { x }, [y], (dy: Tensor) => ({ x: () => (dy.dtype === 'float32' ? dy : cast(dy, 'float32')) }), [], {});
    return y;
  };
}

/**
 * Another tensor on `t`'s memory, to keep while `t` itself is replaced (a variable's assign takes a
 * new data id): made without a kernel where Identity shares memory anyway (SHARING); a clone
 * elsewhere. Not recorded on a gradient tape.
 */
export function sharedCopy(t: Tensor): Tensor {
  const name = getBackend();
  if (!SHARING.includes(name) || t.dtype === 'string') return t.clone();
  const engine = tfEngine() as unknown as CloningEngine;
  engine.backend.incRef(t.dataId);
  return engine.makeTensorFromTensorInfo({ dataId: t.dataId, shape: t.shape, dtype: t.dtype });
}
