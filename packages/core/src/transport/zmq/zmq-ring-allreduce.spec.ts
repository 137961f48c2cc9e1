import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeRingAllReduce } from '../../allreduce/describe-ring-allreduce';
import { ringAllReduce } from '../../allreduce/ring-allreduce';
import { closeRing, openLocalRing } from '../../allreduce/ring-setup';
import { isDdpError } from '../../errors';
import type { Transport } from '../transport';
import { nativeDataPlane, nativeWish } from './native-data-plane';
import { ZmqTransport } from './zmq-transport';

let n = 0;
const ipcAddresses = (): ((k: number) => string[]) => {
  const dir = mkdtempSync(join(tmpdir(), 'ddp-ring-'));
  return (k) => Array.from({ length: k }, () => `ipc://${dir}/r${n++}.sock`);
};
const native = nativeDataPlane().binding !== undefined;

describeRingAllReduce('ZeroMQ tcp://127.0.0.1 (ephemeral ports), zeromq.js', () => ({
  transport: new ZmqTransport({ dataPlane: 'zeromq.js' }),
  addresses: (k) => Array.from({ length: k }, () => 'tcp://127.0.0.1:0'),
  maxRanks: 4,
}));

describeRingAllReduce('ZeroMQ ipc://, zeromq.js', () => ({
  transport: new ZmqTransport({ dataPlane: 'zeromq.js' }),
  addresses: ipcAddresses(),
  maxRanks: 4,
}));

describe.skipIf(!native)('native data plane (packages/core/native)', () => {
  it('is what ZmqTransport uses by default', () => {
    expect(new ZmqTransport().dataPlane).toBe('native');
  });

  describeRingAllReduce('ZeroMQ tcp://127.0.0.1 (ephemeral ports), native', () => ({
    transport: new ZmqTransport(),
    addresses: (k) => Array.from({ length: k }, () => 'tcp://127.0.0.1:0'),
    maxRanks: 4,
  }));

  describeRingAllReduce('ZeroMQ ipc://, native', () => ({
    transport: new ZmqTransport(),
    addresses: ipcAddresses(),
    maxRanks: 4,
  }));

  it('rejects a waiting all-reduce with E_CLOSED within moments of close()', async () => {
    const [r0, r1] = await openLocalRing(new ZmqTransport(), ipcAddresses()(2));
    const settled = ringAllReduce(new Float32Array(1000), r0!, { step: 0, timeoutMs: 60_000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    await closeRing(r0!);
    const err = await settled;
    expect(isDdpError(err, 'E_CLOSED')).toBe(true);
    expect(performance.now() - t0).toBeLessThan(2000);
    await closeRing(r1!);
  });

  // Rank r gets its inbox and outbox from planes[r % 2]: native and zeromq.js ranks in one ring, so
  // the two speak the same frames (and the native one falls back to JavaScript when its outbox is not
  // native, which never happens here).
  const alternating = (): Transport => {
    const planes = [new ZmqTransport(), new ZmqTransport({ dataPlane: 'zeromq.js' })];
    let inboxes = 0;
    let outboxes = 0;
    return {
      name: 'zmq-mixed',
      inbox: (a) => planes[inboxes++ % 2]!.inbox(a),
      outbox: (a) => planes[outboxes++ % 2]!.outbox(a),
      server: (a) => planes[0]!.server(a),
      client: (a) => planes[0]!.client(a),
    };
  };
  describeRingAllReduce('ZeroMQ ipc://, native and zeromq.js ranks alternating', () => ({
    transport: alternating(),
    addresses: ipcAddresses(),
    maxRanks: 4,
  }));
});

describe('TFJS_DDP_NATIVE', () => {
  it('is unset, 0 or 1; anything else is E_CONFIG quoting it', () => {
    expect([undefined, '', '0', '1'].map(nativeWish)).toEqual(['', '', '0', '1']);
    expect(() => nativeWish('yes')).toThrow(/TFJS_DDP_NATIVE is "yes", expected 0 or 1/);
  });

  it.runIf(process.env['TFJS_DDP_NATIVE'] === '1')(
    '=1 (set by .ci/run): the native data plane is built and loads',
    () => {
      expect(nativeDataPlane().why).toMatch(/^native \(libzmq \d+\.\d+\.\d+\)$/);
    },
  );
});
