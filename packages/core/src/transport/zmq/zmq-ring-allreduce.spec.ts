import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeRingAllReduce } from '../../allreduce/describe-ring-allreduce';
import { ZmqTransport } from './zmq-transport';

let n = 0;
describeRingAllReduce('ZeroMQ tcp://127.0.0.1 (ephemeral ports)', () => ({
  transport: new ZmqTransport(),
  addresses: (k) => Array.from({ length: k }, () => 'tcp://127.0.0.1:0'),
  maxRanks: 4,
}));

describeRingAllReduce('ZeroMQ ipc://', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ddp-ring-'));
  return {
    transport: new ZmqTransport(),
    addresses: (k) => Array.from({ length: k }, () => `ipc://${dir}/r${n++}.sock`),
    maxRanks: 4,
  };
});
