import { describe, expect, it } from 'vitest';
import { isDdpError } from '../errors';
import { describeTransport } from './describe-transport';
import { InProcessTransport } from './in-process';

let n = 0;
describeTransport('in-process', () => ({
  transport: new InProcessTransport(),
  bindAddress: (label) => `inproc://${label}-${n++}`,
}));
describeTransport('in-process with inproc://* names', () => ({
  transport: new InProcessTransport(),
  bindAddress: () => 'inproc://*',
}));

describe('InProcessTransport', () => {
  it('queues messages sent before the inbox is bound and hands them over on bind', async () => {
    const t = new InProcessTransport();
    const out = await t.outbox('inproc://later');
    await out.send([new Uint8Array([7])]);
    const inbox = await t.inbox('inproc://later');
    expect((await inbox.recv(100))[0]).toEqual(new Uint8Array([7]));
  });

  it('refuses to bind an address twice and a non-inproc address, with E_CONFIG', async () => {
    const t = new InProcessTransport();
    await t.inbox('inproc://a');
    await expect(t.inbox('inproc://a')).rejects.toSatisfy((e) => isDdpError(e, 'E_CONFIG'));
    await expect(t.server('tcp://127.0.0.1:0')).rejects.toSatisfy((e) => isDdpError(e, 'E_CONFIG'));
  });

  it('keeps each transport instance a separate namespace', async () => {
    const a = new InProcessTransport();
    const b = new InProcessTransport();
    await a.inbox('inproc://same');
    await expect(b.inbox('inproc://same')).resolves.toBeDefined();
  });
});
