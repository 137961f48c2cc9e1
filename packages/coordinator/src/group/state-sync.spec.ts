import { decodeControl, digestOfState, encodeControl, type Client, type CoordinatorToWorker } from '@tfjs-ddp/core';
import { afterEach, describe, expect, it } from 'vitest';
import { closeSeated, seated } from './seated-io';
import { restoreState, stateOfRankZero, syncFrom } from './state-sync';

afterEach(closeSeated);

const bytes = (f: Float32Array) => new Uint8Array(f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength));
const floats = (b: Uint8Array) => new Float32Array(Uint8Array.from(b).buffer);

/**
 * A worker's state handling: it exports what it holds, and loads what it is sent (reporting the
 * weights' checksum and the digest of what it keeps: `keeps` may drop a part, as a broken load would).
 */
function holdsState(c: Client, w: number[], o: { extraFrame?: boolean; keeps?: 'all' | 'weights' } = {}): () => void {
  let on = true;
  let held = { weights: new Float32Array(w), batchNorm: new Float32Array([0.5]), optimizer: [{ name: 'w/m', shape: [w.length], data: new Float32Array(w.length).fill(0.1) }] };
  void (async () => {
    while (on) {
      const frames = await c.recv(50).catch(() => null);
      if (frames === null) continue;
      const { msg, binary } = decodeControl<CoordinatorToWorker>(frames);
      if (msg.type === 'export-state') {
        const out = [bytes(held.weights), bytes(held.batchNorm), ...held.optimizer.map((s) => bytes(s.data)), ...(o.extraFrame === true ? [new Uint8Array(4)] : [])];
        await c.send(encodeControl({ type: 'state', optimizer: held.optimizer.map(({ name, shape }) => ({ name, shape })), checksum: Array.from(held.weights).join(',') }, out));
      } else if (msg.type === 'load-state') {
        held = { weights: floats(binary[0]!), batchNorm: floats(binary[1]!), optimizer: msg.optimizer.map((s, i) => ({ ...s, data: floats(binary[2 + i]!) })) };
        const digest = digestOfState(o.keeps === 'weights' ? { ...held, optimizer: [] } : held);
        await c.send(encodeControl({ type: 'state-loaded', checksum: Array.from(held.weights).join(','), stateDigest: digest }));
      }
    }
  })();
  return () => (on = false);
}

describe('state sync: one training state, checked, from a rank to others and between checkpoints', () => {
  it("copies a rank's state into others, and a checkpoint's into every rank", async () => {
    const { io, clients } = await seated(3);
    const stops = clients.map((c, r) => holdsState(c, [r, r]));
    try {
      await syncFrom(io, 2, [0, 1]);
      const state = await stateOfRankZero(io);
      expect([state.checksum, Array.from(state.weights), Array.from(state.batchNorm)]).toEqual(['2,2', [2, 2], [0.5]]);
      expect(state.optimizer).toEqual([{ name: 'w/m', shape: [2], data: new Float32Array([0.1, 0.1]) }]);
      await restoreState(io, { ...state, checksum: '7,7', weights: new Float32Array([7, 7]) });
      expect((await stateOfRankZero(io)).checksum).toBe('7,7');
    } finally {
      for (const s of stops) s();
    }
  });

  it('stops the run (E_DIVERGED) when a rank holds other slots than it was sent, though its weights agree', async () => {
    const { io, clients } = await seated(2);
    const stops = [holdsState(clients[0]!, [1, 2]), holdsState(clients[1]!, [3, 4], { keeps: 'weights' })];
    try {
      await expect(syncFrom(io, 0, [1])).rejects.toThrow(/E_DIVERGED: rank 1 holds a training state other than the state of rank 0 after loading it: its weights agree \(checksum 1,2\)/);
    } finally {
      for (const s of stops) s();
    }
  });

  it('refuses a state whose frames do not match its optimizer slots (E_PROTOCOL)', async () => {
    const { io, clients } = await seated(1);
    const stop = holdsState(clients[0]!, [1], { extraFrame: true });
    try {
      await expect(stateOfRankZero(io)).rejects.toThrow(/E_PROTOCOL: rank 0 sent an invalid message .*state with 4 frames for 1 optimizer slots/);
    } finally {
      stop();
    }
  });
});
