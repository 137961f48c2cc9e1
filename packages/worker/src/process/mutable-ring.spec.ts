// A replacement worker must not bind the ring inbox path of the process it replaces: its left
// neighbour's outbox to that path, closed when the step was abandoned, lingers and reconnects, and
// would hand the new process the abandoned step's chunks first (E_PROTOCOL in the replayed step, seen
// once in CI: "chunk header field 'chunk' is 0, expected 1").
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Inbox, Transport } from '@tfjs-ddp/core';
import { ZmqTransport } from '@tfjs-ddp/core/zmq';
import { afterAll, describe, expect, it } from 'vitest';
import { MutableRing, ringInboxAddress } from './mutable-ring';

const dir = mkdtempSync(join(tmpdir(), 'tfjs-ddp-ring-'));
const transport = new ZmqTransport();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const chunk = (text: string) => [new TextEncoder().encode(text)];
const text = (frames: Uint8Array[]) => new TextDecoder().decode(frames[0]);

/**
 * A worker process whose inbox is `address` (tcp port 0: an ephemeral one), SIGKILLed while its left
 * neighbour's outbox to it holds a chunk of the step then abandoned; the outbox is then closed, with
 * the transport's linger (500 ms, reconnecting to the address meanwhile) or `discard`ing the chunk.
 * Returns the address the process had bound.
 */
async function predecessorKilled(
  address: string,
  o: { via?: Transport; discard?: boolean } = {},
): Promise<string> {
  const bindThere = `const { Pull } = require('zeromq'); const p = new Pull(); p.bind(${JSON.stringify(address)}).then(() => console.log(p.lastEndpoint)); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['-e', bindThere], { stdio: ['ignore', 'pipe', 'inherit'] });
  const bound = await new Promise<string>((resolve) =>
    child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())),
  );
  const outbox = await (o.via ?? transport).outbox(bound);
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  await outbox.send(chunk('step 3, abandoned'));
  await outbox.close(o.discard === true ? { discard: true } : undefined);
  return bound;
}

describe('ring inbox addresses', () => {
  it('are per process and per rebuild for ipc paths, and as given for tcp', () => {
    const base = `ipc://${join(dir, 'ring-1')}`;
    const before = [0, 1, 2].map((g) => ringInboxAddress(base, 1000, g));
    expect(new Set(before).size).toBe(3);
    expect(before).not.toContain(ringInboxAddress(base, 1001, 0));
    expect(ringInboxAddress('tcp://10.0.0.2:0', 1000, 3)).toBe('tcp://10.0.0.2:0');
  });

  it("a replacement's inbox gets nothing of what was queued for its predecessor; the predecessor's path would have", async () => {
    const base = `ipc://${join(dir, 'ring-1')}`;
    // What the replacement would have received on its predecessor's path (the hazard, shown once).
    const reused = ringInboxAddress(base, 4_000_000, 0);
    await predecessorKilled(reused);
    const again: Inbox = await transport.inbox(reused);
    expect(text(await again.recv(2_000))).toBe('step 3, abandoned');
    await again.close();

    const old = ringInboxAddress(base, 4_000_001, 0);
    await predecessorKilled(old);
    const ring = new MutableRing(transport, 1, 2, base);
    const address = await ring.bind();
    expect(address).not.toBe(old);
    await ring.connect(address); // its own inbox as right neighbour: a live link to read from
    const received = ring
      .channel()
      .left.recv(1_000)
      .then(text, (e: Error) => e.message);
    expect(await received).toMatch(/E_TIMEOUT/);
    ring.closeSockets();
  });
});

describe('ring outboxes closed at an abort', () => {
  // The native plane where it is built (the default transport), and zeromq.js.
  const planes = [
    new ZmqTransport({ dataPlane: 'zeromq.js' }),
    ...(transport.dataPlane === 'native' ? [transport] : []),
  ];
  const cases = planes.flatMap((via) =>
    [`ipc://${join(dir, 'fixed')}`, 'tcp://127.0.0.1:0'].map(
      (address) => [via.dataPlane, address.split(':')[0]!, via, address] as const,
    ),
  );
  it.each(cases)(
    '%s, %s: discarding hands the next inbox at the same address nothing; closing with a linger would have',
    async (_plane, scheme, via, address) => {
      // The hazard: a survivor rebinding its fixed tcp port (or any inbox reusing an address) gets the chunk.
      const lingered = await predecessorKilled(scheme === 'ipc' ? `${address}-linger` : address, { via });
      const first: Inbox = await via.inbox(lingered);
      expect(text(await first.recv(2_000))).toBe('step 3, abandoned');
      await first.close();
      const discarded = await predecessorKilled(scheme === 'ipc' ? `${address}-discard` : address, {
        via,
        discard: true,
      });
      const next: Inbox = await via.inbox(discarded);
      expect(await next.recv(1_000).then(text, (e: Error) => e.message)).toMatch(/E_TIMEOUT/);
      await next.close();
    },
    15_000,
  );
});
