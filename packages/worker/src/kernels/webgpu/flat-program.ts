// The shape every element-wise program of ours shares: a flat output of `size` float32 elements, one
// invocation each (in `threads`, the last uniform), over inputs read by flat index. Subclasses give
// the shader key, the input names, their own uniforms and the body. Used by sgd-step-program.ts and
// moving-statistic-program.ts.
import { flatDispatch, type WebGpuProgram } from './conv2d-backprop-filter-program';

export abstract class FlatProgram implements WebGpuProgram {
  readonly outputShape: number[];
  readonly dispatchLayout = { x: [0] };
  readonly dispatch: [number, number, number];
  readonly workgroupSize: [number, number, number] = [64, 1, 1];
  readonly variableComponents: number[];
  readonly outputComponent = 1;
  readonly uniforms: string;
  readonly size = false;
  readonly threads: number;
  abstract readonly shaderKey: string;

  constructor(
    size: number,
    readonly variableNames: string[],
    /** WGSL uniform fields before `threads`, each ending in a comma. */
    uniforms: string,
  ) {
    this.outputShape = [size];
    this.threads = size;
    this.dispatch = flatDispatch(size, this.workgroupSize[0]);
    this.variableComponents = variableNames.map(() => 1);
    this.uniforms = `${uniforms} threads : i32,`;
  }

  /** The value of element `index` of the output, as a WGSL expression. */
  protected abstract element(): string;

  getUserCode(): string {
    return `
    fn main(index : i32) {
      if (index >= uniforms.threads) { return; }
      result[index] = ${this.element()};
    }
    `;
  }
}
