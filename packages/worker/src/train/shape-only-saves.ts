// Saved-for-backward tensors that are only ever read for their shape. tfjs' gradients of Concat,
// Add, Sub, PadV2 and Reshape use their saved inputs for nothing but `.shape` (which pieces to
// split, which axes to sum, what to slice, what to reshape to), yet the engine keeps a clone of each
// input, and with it the input's memory, until the backward pass reaches the node. In a DenseNet
// block that is every conv's output, held by the concat that follows it; in the seed's stem, the
// conv's output held by its bias Add. Here those kernels save a stand-in with the input's shape
// and dtype instead, and the memory goes when the forward pass is done with it. Same gradients.
import * as tf from '@tensorflow/tfjs-core';

/** Kernels whose registered gradient reads its saved tensors' shapes only (tfjs-core 4.22). */
export const SHAPE_ONLY_SAVES: ReadonlySet<string> = new Set(['Concat', 'Add', 'Sub', 'PadV2', 'Reshape']);

const STAND_IN = Symbol('tfjs-ddp shape-only saved tensor');

interface EngineSaving {
  getTensorsForGradient(kernelName: string, inputs: tf.NamedTensorMap, outputs: tf.Tensor[]): tf.Tensor[];
  saveTensorsForBackwardMode(tensors: tf.Tensor[]): tf.Tensor[];
}

let stock: Pick<EngineSaving, 'getTensorsForGradient' | 'saveTensorsForBackwardMode'> | null = null;

/** What a shape-only gradient may read of a saved tensor; disposing it does nothing. */
function standIn(t: tf.Tensor): tf.Tensor {
  return {
    [STAND_IN]: true,
    id: -1,
    shape: t.shape.slice(),
    dtype: t.dtype,
    rank: t.rank,
    size: t.size,
    isDisposed: false,
    dispose: () => undefined,
  } as unknown as tf.Tensor;
}

/** Makes the engine save stand-ins for SHAPE_ONLY_SAVES kernels. Idempotent. */
export function installShapeOnlySaves(): void {
  if (stock !== null) return;
  const engine = tf.engine() as unknown as EngineSaving;
  stock = {
    getTensorsForGradient: engine.getTensorsForGradient,
    saveTensorsForBackwardMode: engine.saveTensorsForBackwardMode,
  };
  const select = engine.getTensorsForGradient.bind(engine);
  const save = engine.saveTensorsForBackwardMode.bind(engine);
  engine.getTensorsForGradient = (kernelName, inputs, outputs) => {
    const tensors = select(kernelName, inputs, outputs);
    return SHAPE_ONLY_SAVES.has(kernelName) ? tensors.map(standIn) : tensors;
  };
  engine.saveTensorsForBackwardMode = (tensors) => {
    const real = save(tensors.filter((t) => !(STAND_IN in t)));
    return tensors.map((t) => (STAND_IN in t ? t : real.shift()!));
  };
}

/** Restores the engine's own saving (for comparisons in tests). */
export function uninstallShapeOnlySaves(): void {
  if (stock === null) return;
  Object.assign(tf.engine(), stock);
  stock = null;
}
