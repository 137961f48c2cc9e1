// Which CUDA 11.2 / cuDNN 8 shared libraries (the ones libtensorflow 2.x in tfjs-node-gpu links
// against) the dynamic loader cannot see. Used to say exactly what is missing when a GPU was asked
// for but TensorFlow fell back to the CPU.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Sonames libtensorflow 2.9 (tfjs-node-gpu 4.x) dlopens for the GPU. */
export const CUDA_LIBRARIES = [
  'libcudart.so.11.0',
  'libcublas.so.11',
  'libcublasLt.so.11',
  'libcufft.so.10',
  'libcurand.so.10',
  'libcusolver.so.11',
  'libcusparse.so.11',
  'libcudnn.so.8',
] as const;

/** The sonames of CUDA_LIBRARIES found neither by `ldconfig -p` nor in LD_LIBRARY_PATH. */
export function missingCudaLibraries(env: NodeJS.ProcessEnv = process.env): string[] {
  let cache = '';
  try {
    cache = execFileSync('ldconfig', ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    // No ldconfig (e.g. a minimal container): rely on LD_LIBRARY_PATH alone.
  }
  const dirs = (env['LD_LIBRARY_PATH'] ?? '').split(':').filter((d) => d.length > 0);
  return CUDA_LIBRARIES.filter((lib) => !cache.includes(lib) && !dirs.some((d) => existsSync(join(d, lib))));
}
