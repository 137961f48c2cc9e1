import { describe, expect, it } from 'vitest';
import { DdpError, isDdpError } from './errors';

describe('DdpError', () => {
  it('puts the code first and appends the hint', () => {
    const e = new DdpError('E_DATA_CHECKSUM', 'x.gz has sha256 ab12, expected cd34', 'delete the cache');
    expect(e.message).toBe('E_DATA_CHECKSUM: x.gz has sha256 ab12, expected cd34; delete the cache');
    expect(isDdpError(e, 'E_DATA_CHECKSUM')).toBe(true);
    expect(isDdpError(e, 'E_USAGE')).toBe(false);
  });

  it('maps usage and config errors to exit code 2 and the rest to 1', () => {
    expect(new DdpError('E_USAGE', 'bad flag').exitCode).toBe(2);
    expect(new DdpError('E_CONFIG', 'bad value').exitCode).toBe(2);
    expect(new DdpError('E_BACKEND', 'no backend').exitCode).toBe(1);
  });
});
