// Identity on the wasm backend without a copy: the output shares the input's memory, with one more
// reference to it, as Reshape does on wasm and Identity does on the cpu backend. tfjs runs Identity
// for every tensor it saves for the backward pass (engine.clone); the stock wasm kernel copies each,
// 211 copies and 41 ms of the seed's step at batch 64 (bench:step's top_kernels, docs/kernels.md).
// Sharing is safe because no kernel writes into its inputs: tensors are immutable in tfjs, and a
// variable's assign takes a new data id. Registered by fast-kernels.ts.
import { getKernel, Identity, type DataId, type KernelConfig, type TensorInfo } from '@tensorflow/tfjs-core';

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
