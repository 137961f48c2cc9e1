// tfjs's SGD (the seed's), momentum (with or without Nesterov), Adam and RMSProp (plain or centered)
// on the webgpu backend: several variables per dispatch (kernels/webgpu/optimizer-program.ts) instead
// of tfjs's two (SGD) to about twelve (Adam, RMSProp) dispatches per variable, with one gradient upload
// per group of variables instead of one per variable. The new values and slots are new tensors the
// variables and the optimizer's own slots take, never written in place. Adam's β powers are scalars
// the host keeps (as host-optimizers.ts does): read where they lie in host memory, which is where
// this path leaves them; where the tfjs path has moved them to the GPU, applyOnDevice() says no.
// Other optimizers and backends: applyOnDevice() says no and the caller takes the tfjs path.
import * as tf from '@tensorflow/tfjs-core';
import { rawRecorder as gpu } from '../kernels/webgpu/raw-dispatch';
import {
  groupSize,
  optimizerProgram,
  type DeviceRule,
  type UpdateScalars,
} from '../kernels/webgpu/optimizer-program';
import type { GradientLayout, LayoutEntry } from './gradient-layout';
import { adamOf, assignNew, rmspropOf, sgdOrMomentum, zeroSlot, type Slot } from './host-optimizers';

/** What one update needs: its rule and scalars, each variable's slots, and what to do once applied. */
interface DeviceUpdate {
  rule: DeviceRule;
  scalars: UpdateScalars;
  /** Per slot (after the variable itself), the optimizer's arrays of slots, by variable index. */
  slots: Slot[][];
  suffixes: string[];
  done(): void;
}

/** A float32 scalar's value where it lies in host memory (never a read back from the GPU); else null. */
function hostScalar(v: tf.Variable): number | null {
  try {
    const values = (tf.backend() as unknown as { readSync(id: object): unknown }).readSync(v.dataId);
    return values instanceof Float32Array && values.length === 1 ? values[0]! : null;
  } catch {
    return null;
  }
}

function deviceUpdate(opt: tf.Optimizer): DeviceUpdate | null {
  const f = Math.fround;
  const s = sgdOrMomentum(opt);
  if (s !== null) {
    // −lr and the momentum as tfjs keeps them (float32 scalars), from the numbers.
    const scalars = { c: f(-s.learningRate), m: f(s.momentum) };
    const done = () => s.incrementIterations();
    return s.rule === 'sgd'
      ? { rule: 'sgd', scalars, slots: [], suffixes: [], done }
      : { rule: s.rule, scalars, slots: [s.accumulations], suffixes: ['momentum'], done };
  }
  const r = rmspropOf(opt);
  if (r !== null) {
    const centered = r.centered;
    return {
      rule: centered ? 'rmsprop-centered' : 'rmsprop',
      scalars: { c: f(-r.learningRate), m: r.momentum, b1: r.decay, eps: r.epsilon },
      slots: [r.accumulatedMeanSquares, r.accumulatedMoments, ...(centered ? [r.accumulatedMeanGrads] : [])],
      suffixes: ['rms', 'momentum', ...(centered ? ['mg'] : [])],
      done: () => r.incrementIterations(),
    };
  }
  const a = adamOf(opt);
  if (a === null) return null;
  const [acc1, acc2] = [hostScalar(a.accBeta1), hostScalar(a.accBeta2)];
  if (acc1 === null || acc2 === null) return null;
  return {
    rule: 'adam',
    scalars: {
      c: f(-a.learningRate),
      b1: a.beta1,
      b2: a.beta2,
      eps: a.epsilon,
      c1: f(1 - acc1),
      c2: f(1 - acc2),
    },
    slots: [a.accumulatedFirstMoment, a.accumulatedSecondMoment],
    suffixes: ['m', 'v'],
    done: () => {
      assignNew(a.accBeta1, Float32Array.of(f(acc1 * f(a.beta1))));
      assignNew(a.accBeta2, Float32Array.of(f(acc2 * f(a.beta2))));
      a.incrementIterations();
    },
  };
}

/**
 * Applies `sum` × `scale` (the mean gradient, in `layout`'s order) with `opt` on webgpu; false where
 * it cannot. The product is taken in float32 as the program reads the gradient: no pass over it on
 * the host.
 */
export function applyOnDevice(
  opt: tf.Optimizer,
  layout: GradientLayout,
  sum: Float32Array,
  scale: number,
): boolean {
  if (tf.getBackend() !== 'webgpu') return false;
  const vars = layout.variables;
  if (!vars.every((v) => v.dtype === 'float32')) return false;
  const u = deviceUpdate(opt);
  if (u === null) return false;
  const backend = tf.backend();
  // The slots, made as the stock update makes them on its first step (zeros, not trainable).
  u.slots.forEach((arr, si) => vars.forEach((v, i) => (arr[i] ??= zeroSlot(v, u.suffixes[si]!))));
  const k = groupSize(gpu.storageBuffers(backend), u.rule);
  // Empty variables have nothing to update (and a zero-size buffer cannot be bound).
  const live = layout.entries.map((e, i) => ({ e, i, v: vars[i]! })).filter(({ e }) => e.size > 0);
  // The whole summed gradient in one buffer, written once; each group reads its slice from its offset.
  const g = gpu.input(backend, [sum.length], sum);
  try {
    for (let start = 0; start < live.length; start += k)
      updateGroup(backend, u, live.slice(start, start + k), g, Math.fround(scale));
  } finally {
    gpu.release(backend, g);
  }
  u.done();
  return true;
}

/** Records one group's update: its variables and slots take the new tensors the program writes. */
function updateGroup(
  backend: tf.KernelBackend,
  u: DeviceUpdate,
  group: { e: LayoutEntry; i: number; v: tf.Variable }[],
  g: tf.TensorInfo,
  scale: number,
): void {
  tf.tidy(() => {
    const sizes = group.map(({ e }) => e.size);
    const { program, uniforms } = optimizerProgram(sizes, u.rule, u.scalars, group[0]!.e.offset, scale);
    // Per slot (the variable first), the group's targets.
    const targets = [
      group.map(({ v }) => v),
      ...u.slots.map((arr) => group.map(({ i }) => arr[i]!.variable)),
    ];
    // The program reads and writes flat arrays (their sizes are its uniforms), so the variables
    // and their new values are bound in their own shapes: no Reshape kernel either way.
    const olds = targets.flat();
    const news = olds.map((t) => gpu.output(backend, t.shape));
    gpu.record(backend, program, [g, ...olds, ...news], uniforms);
    olds.forEach((target, n) => target.assign(tf.engine().makeTensorFromTensorInfo(news[n]!) as tf.Tensor));
  });
}
