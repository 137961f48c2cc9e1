// WGSL program for one plain-SGD update of a variable on the webgpu backend: w + c·g with
// c = −lr, one invocation per element. tfjs' SGD runs it as two dispatches (Multiply, then Add);
// this is one. Run by train/device-sgd.ts.
import { flatDispatch, type WebGpuProgram } from './conv2d-backprop-filter-program';

export class SgdStepProgram implements WebGpuProgram {
  readonly outputShape: number[];
  readonly shaderKey = 'tfjsDdpSgdStep';
  readonly dispatchLayout = { x: [0] };
  readonly dispatch: [number, number, number];
  readonly workgroupSize: [number, number, number] = [64, 1, 1];
  readonly variableNames = ['w', 'g'];
  readonly variableComponents = [1, 1];
  readonly outputComponent = 1;
  readonly uniforms = 'c : f32, threads : i32,';
  readonly size = false;
  readonly threads: number;

  constructor(size: number) {
    this.outputShape = [size];
    this.threads = size;
    this.dispatch = flatDispatch(size, this.workgroupSize[0]);
  }

  getUserCode(): string {
    // Written as the two stock kernels compute it, product then sum; WGSL lets a driver fuse them
    // into one FMA, so an element may differ from theirs in its last bit.
    return `
    fn main(index : i32) {
      if (index >= uniforms.threads) { return; }
      let step = uniforms.c * g[index];
      result[index] = w[index] + step;
    }
    `;
  }
}
