import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isDdpError } from '../../errors';
import { describeTransport } from '../describe-transport';
import { ZmqTransport } from './zmq-transport';

let n = 0;
describeTransport('zmq over tcp://127.0.0.1 (ephemeral ports)', () => ({
  transport: new ZmqTransport(),
  bindAddress: () => 'tcp://127.0.0.1:0',
}));

describeTransport('zmq over ipc:// (temp dir)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ddp-zmq-'));
  return {
    transport: new ZmqTransport(),
    bindAddress: (label) => `ipc://${dir}/${label}.sock`,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
});

// The same two over zeromq.js alone (the fallback where the native data plane is not built).
describeTransport('zmq over tcp://127.0.0.1, data plane on zeromq.js', () => ({
  transport: new ZmqTransport({ dataPlane: 'zeromq.js' }),
  bindAddress: () => 'tcp://127.0.0.1:0',
}));

describeTransport('zmq over ipc://, data plane on zeromq.js', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ddp-zmq-'));
  return {
    transport: new ZmqTransport({ dataPlane: 'zeromq.js' }),
    bindAddress: (label) => `ipc://${dir}/${label}.sock`,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
});

describeTransport('zmq over inproc://', () => ({
  transport: new ZmqTransport(),
  bindAddress: (label) => `inproc://zmq-${label}-${n++}`,
}));

describe('ZmqTransport', () => {
  it('reports a busy port as E_CONFIG naming the address', async () => {
    const t = new ZmqTransport();
    const first = await t.inbox('tcp://127.0.0.1:0');
    try {
      await expect(t.inbox(first.address)).rejects.toSatisfy(
        (e) =>
          isDdpError(e, 'E_CONFIG') &&
          (e as Error).message.includes(first.address) &&
          (e as Error).message.includes('in use'),
      );
    } finally {
      await first.close();
    }
  });

  it('reports a malformed address as E_CONFIG', async () => {
    await expect(new ZmqTransport().inbox('nonsense://x')).rejects.toSatisfy((e) =>
      isDdpError(e, 'E_CONFIG'),
    );
  });
});
