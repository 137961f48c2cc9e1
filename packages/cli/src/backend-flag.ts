// --backend of the commands that do not take train's settings (info, eval): the flag, else the
// environment variable TFJS_DDP_BACKEND that `train` also reads, else auto.
import { DdpError } from '@tfjs-ddp/core';
import { BACKEND_CHOICES, type BackendInfo } from '@tfjs-ddp/worker';

/**
 * The backend to select: `flag` (parseArgs checked it against the choices), else TFJS_DDP_BACKEND.
 * @throws DdpError E_CONFIG when the environment variable is not one of the choices
 */
export function backendFlag(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): BackendInfo['requested'] {
  const raw = flag ?? (env['TFJS_DDP_BACKEND'] === '' ? undefined : env['TFJS_DDP_BACKEND']) ?? 'auto';
  if (!(BACKEND_CHOICES as readonly string[]).includes(raw)) {
    throw new DdpError(
      'E_CONFIG',
      `environment variable TFJS_DDP_BACKEND must be one of ${BACKEND_CHOICES.join(', ')}, got ${JSON.stringify(raw)}`,
      'unset it or set one of those',
    );
  }
  return raw as BackendInfo['requested'];
}
