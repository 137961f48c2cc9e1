// WGSL program for one plain-SGD update of a variable on the webgpu backend: w + c·g with
// c = −lr, one invocation per element. tfjs' SGD runs it as two dispatches (Multiply, then Add);
// this is one. Run by train/device-sgd.ts; uniforms: c, then threads.
import { FlatProgram } from './flat-program';

export class SgdStepProgram extends FlatProgram {
  readonly shaderKey = 'tfjsDdpSgdStep';

  constructor(size: number) {
    super(size, ['w', 'g'], 'c : f32,');
  }

  protected element(): string {
    // Written as the two stock kernels compute it, product then sum; WGSL lets a driver fuse them
    // into one FMA, so an element may differ from theirs in its last bit.
    return 'w[index] + uniforms.c * g[index]';
  }
}
