// A replacement worker must not bind the ring inbox path of the process it replaces: its left
// neighbour's outbox to that path, closed when the step was abandoned, lingers and reconnects, and
// would hand the new process the abandoned step's chunks first (E_PROTOCOL in the replayed step, seen
// once in CI: "chunk header field 'chunk' is 0, expected 1").
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Inbox } from '@tfjs-ddp/core';
import { ZmqTransport } from '@tfjs-ddp/core/zmq';
import { afterAll, describe, expect, it } from 'vitest';
import { MutableRing, ringInboxAddress } from './mutable-ring';

const dir = mkdtempSync(join(tmpdir(), 'tfjs-ddp-ring-'));
const transport = new ZmqTransport();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const chunk = (text: string) => [new TextEncoder().encode(text)];
const text = (frames: Uint8Array[]) => new TextDecoder().decode(frames[0]);

/**
 * A worker process whose inbox is `address`, SIGKILLed while its left neighbour's outbox to it holds
 * a chunk of the step then abandoned; the outbox is closed as a survivor closes it at the abort.
 */
async function predecessorKilled(address: string): Promise<void> {
  const bindThere = `const { Pull } = require('zeromq'); new Pull().bind(${JSON.stringify(address)}).then(() => console.log('bound')); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['-e', bindThere], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve) => child.stdout.once('data', resolve));
  const outbox = await transport.outbox(address);
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  await outbox.send(chunk('step 3, abandoned'));
  await outbox.close(); // lingers (500 ms), reconnecting to the path
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
