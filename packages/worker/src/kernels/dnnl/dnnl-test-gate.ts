// When the oneDNN specs may skip: they need the addon, which CI builds (.ci/run installs libdnnl-dev
// and sets TFJS_DDP_NATIVE=1). A missing addon fails them under TFJS_DDP_NATIVE=1, and under CI=true
// where oneDNN's headers are installed (so a build that broke cannot pass as a skip); elsewhere
// (a laptop, an unprivileged CI without apt) they skip, printing why.
import { existsSync } from 'node:fs';
import { loadDnnl, type DnnlLoad } from './dnnl-addon';

export function dnnlForSpecs(spec: string): { load: DnnlLoad; skip: boolean } {
  const load = loadDnnl({ ...process.env, TFJS_DDP_CPU_KERNELS: '' });
  const required =
    process.env['TFJS_DDP_NATIVE'] === '1' ||
    (process.env['CI'] === 'true' && existsSync('/usr/include/oneapi/dnnl/dnnl.hpp'));
  const skip = load.binding === undefined && !required;
  if (skip) console.log(`${spec}: oneDNN tests skipped: ${load.why}`);
  return { load, skip };
}
