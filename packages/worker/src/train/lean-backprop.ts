// Lean backprop: tfjs-core's reverse pass, changed to free memory as it goes. The stock pass keeps
// every intermediate gradient and every tensor saved for backward until the whole gradient is
// computed, so its peak memory is roughly activations + all their gradients: for the DenseNet step
// on wasm, 33 MiB per sample at peak against 12 MiB retained after the forward pass. Here a node's
// output gradients and saved tensors are disposed as soon as the node has been differentiated
// (nothing later in the reverse walk can use them). Same arithmetic, same results; installed once
// per process by installLeanBackprop(), called from backend selection.
//
// The node filtering below follows tfjs-core's tape.ts (Apache-2.0, © Google LLC); it is not
// exported by tfjs-core, hence the copy.
import * as tf from '@tensorflow/tfjs-core';

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
}

interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
  tidy<T extends tf.TensorContainer>(name: string | (() => T), f?: () => T): T;
  gradients: (f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor, allowNoGradients?: boolean) => { value: tf.Tensor; grads: tf.Tensor[] };
}

/** The nodes of `tape` on a path from some x to y, with inputs not depending on any x pruned. */
function filterTape(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set<number>(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      node.outputs.forEach((o) => fromX.add(o.id));
      nodesFromX.add(node.id);
    }
  }
  const leadToY = new Set<number>([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (node.outputs.some((o) => leadToY.has(o.id))) {
      Object.values(node.inputs).forEach((t) => leadToY.add(t.id));
      nodesToY.add(node.id);
    }
  }
  return tape
    .filter((n) => nodesFromX.has(n.id) && nodesToY.has(n.id))
    .map((n) => ({ ...n, inputs: Object.fromEntries(Object.entries(n.inputs).filter(([, t]) => fromX.has(t.id))) }));
}

/** The node being differentiated and the gradients so far, while its gradient function runs. */
let differentiating: { node: TapeNode; grads: Map<number, tf.Tensor> } | null = null;

/**
 * For a gradient function that can add into its result: the gradient accumulated so far for `x`, an
 * input of the node being differentiated (the tensor the op was called with, not its saved clone),
 * handed over. The caller must return x's gradient with this tensor added, and dispose it. Null
 * outside the lean pass, for tensors that are not the node's inputs, where nothing has accumulated
 * yet, or where the tensor is also held as another gradient. Lets a kernel fuse the add for a
 * tensor with several consumers (a DenseNet block's input: the concat's gradient and the
 * BatchNorm's) into its own output pass.
 */
export function takePendingGradient(x: tf.Tensor): tf.Tensor | null {
  const d = differentiating;
  if (d === null || !Object.values(d.node.inputs).some((t) => t.id === x.id)) return null;
  const g = d.grads.get(x.id);
  if (g === undefined || g.isDisposed) return null;
  let holders = 0;
  for (const v of d.grads.values()) if (v === g) holders++;
  if (holders !== 1 || d.node.outputs.some((o) => d.grads.get(o.id) === g)) return null;
  d.grads.delete(x.id);
  return g;
}

/**
 * For a gradient function that computes its inputs' gradients eagerly (tf.customGrad's do): whether
 * `x`, an input of the node being differentiated, will be asked for its gradient. The lean pass asks
 * only for inputs on a path from the variables (an image fed to the first conv is not), so a
 * function can skip an expensive gradient nobody reads. True outside the lean pass (the stock one
 * may ask for any input).
 */
export function gradientWanted(x: tf.Tensor): boolean {
  const d = differentiating;
  return d === null || Object.values(d.node.inputs).some((t) => t.id === x.id);
}

function backprop(grads: Map<number, tf.Tensor>, tape: TapeNode[], keepIds: Set<number>, tidy: (f: () => tf.Tensor) => tf.Tensor): void {
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    const dys = node.outputs.map((o) => grads.get(o.id) ?? null);
    if (node.gradient == null) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
    differentiating = { node, grads };
    let inputGradients: Record<string, () => tf.Tensor>;
    try {
      inputGradients = node.gradient(dys);
    } finally {
      differentiating = null;
    }
    for (const [inputName, x] of Object.entries(node.inputs)) {
      const g = inputGradients[inputName];
      if (g === undefined) throw new Error(`Cannot backprop through input ${inputName} of ${node.kernelName}.`);
      const dx = tidy(g);
      if (dx.dtype !== 'float32') throw new Error(`Error in gradient for op ${node.kernelName}: the gradient of ${inputName} has dtype ${dx.dtype}`);
      if (!tf.util.arraysEqual(dx.shape, x.shape)) {
        throw new Error(`Error in gradient for op ${node.kernelName}: the gradient of ${inputName} has shape ${dx.shape}, input has ${x.shape}`);
      }
      const cur = grads.get(x.id);
      if (cur === undefined) {
        grads.set(x.id, dx);
      } else {
        grads.set(x.id, tf.add(cur, dx));
        cur.dispose();
        if (dx !== cur) dx.dispose();
      }
    }
    // This node was the last consumer of its outputs' gradients and of its saved tensors. An output's
    // gradient is dropped from the map first: a gradient still held there is the same tensor passed
    // on as an input's (an identity's), and stays.
    node.outputs.forEach((o) => {
      if (!keepIds.has(o.id)) grads.delete(o.id);
    });
    const live = new Set(grads.values());
    node.outputs.forEach((o, k) => {
      const dy = dys[k];
      if (dy != null && !keepIds.has(o.id) && !live.has(dy)) dy.dispose();
    });
    node.saved?.forEach((t) => t.dispose());
  }
}

let stock: EngineInternals['gradients'] | null = null;

/** Replaces the engine's `gradients` (used by tf.grads, variableGrads, optimizers) with the lean pass. Idempotent. */
export function installLeanBackprop(): void {
  if (stock !== null) return;
  const engine = tf.engine() as unknown as EngineInternals;
  stock = engine.gradients;
  engine.gradients = function gradients(this: EngineInternals, f, xs, dy, allowNoGradients = false) {
    if (xs.length === 0) throw new Error('gradients() received an empty list of xs.');
    if (dy != null && dy.dtype !== 'float32') throw new Error(`dy must have 'float32' dtype, but has '${dy.dtype}'`);
    const y = this.scopedRun(
      () => this.startTape(),
      () => this.endTape(),
      () => this.tidy('forward', f),
    );
    if (!(y instanceof tf.Tensor)) throw new Error('The result y returned by f() must be a tensor.');
    const tape = filterTape(this.state.activeTape ?? [], xs, y);
    if (!allowNoGradients && tape.length === 0 && xs.length > 0) {
      throw new Error('Cannot compute gradient of y=f(x) with respect to x. Make sure that the f you passed encloses all operations that lead from x to y.');
    }
    return this.tidy('backward', () => {
      const grads = new Map<number, tf.Tensor>([[y.id, dy ?? tf.ones(y.shape)]]);
      const keep = new Set<number>([y.id, ...xs.map((x) => x.id)]);
      backprop(grads, tape, keep, (g) => this.tidy(g));
      const result = xs.map((x) => grads.get(x.id)) as tf.Tensor[];
      if (this.state.gradientDepth === 0) {
        this.state.activeTape?.forEach((node) => node.saved?.forEach((t) => t.dispose()));
        this.state.activeTape = null;
      }
      return { value: y, grads: result } as unknown as tf.TensorContainer;
    }) as unknown as { value: tf.Tensor; grads: tf.Tensor[] };
  };
}

/** Restores tfjs-core's own reverse pass (for comparisons in tests and benchmarks). */
export function uninstallLeanBackprop(): void {
  if (stock === null) return;
  (tf.engine() as unknown as EngineInternals).gradients = stock;
  stock = null;
}
