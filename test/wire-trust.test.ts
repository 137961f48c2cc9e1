// "Nothing trusted that should not be": what arrives over a real ZeroMQ socket is checked before it
// touches a file or a buffer. A rank 0 that answers `save` with a path is refused with nothing
// written; a worker told to bind an ipc:// path outside its run's socket directory refuses it and the
// file there survives; frames over the size limits, sent to a live run's coordinator and ring inboxes,
// drop the sender and the run ends as if nothing happened.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RemoteWorkerGroup } from '@tfjs-ddp/coordinator';
import {
  decodeControl,
  encodeControl,
  MAX_CONTROL_FRAME_BYTES,
  type CoordinatorToWorker,
  type WorkerSettings,
} from '@tfjs-ddp/core';
import { MAX_DATA_FRAME_BYTES, WIRE_MARGIN_BYTES, ZmqTransport } from '@tfjs-ddp/core/zmq';
import { writeSyntheticFashionMnist } from '@tfjs-ddp/data';
import { beforeAll, describe, expect, it } from 'vitest';
import { Dealer, Push } from 'zeromq';
import { freePort } from './support/ports';
import { readJson, readJsonLines, startCli, tmp } from './support/spawn-cli';

let data: string;

beforeAll(async () => {
  data = tmp('data');
  await writeSyntheticFashionMnist(data, { train: 160, test: 40, seed: 9 });
});

const log = { info: () => undefined, warn: () => undefined };

describe('peers are trusted no further than the protocol', () => {
  it("refuses rank 0's save answer that names a path, writing nothing inside or outside the run directory", async () => {
    const root = tmp('wire-save');
    const runDir = join(root, 'run');
    mkdirSync(runDir);
    const transport = new ZmqTransport();
    const server = await transport.server('tcp://127.0.0.1:0');
    const fake = await transport.client(server.address);
    // A rank 0 that speaks the protocol, and answers `save` with a name that climbs out of model/.
    const answer = async (): Promise<void> => {
      const send = (m: object, binary: Uint8Array[] = []) =>
        fake.send(encodeControl(m as { type: string }, binary));
      await send({ type: 'join', version: 'test', pid: 4242, host: 'evil', requestedRank: 0, localRank: 0 });
      for (;;) {
        const { msg } = decodeControl<CoordinatorToWorker>(await fake.recv(20_000));
        if (msg.type === 'welcome')
          await send({
            type: 'hello',
            dataAddress: 'tcp://127.0.0.1:1',
            description: {
              pid: 4242,
              host: 'evil',
              backend: 'cpu',
              device: 'cpu',
              adapter: null,
              params: 1,
              weightsHash: 'x',
              microBatch: 1,
              memoryFit: null,
              trainCount: 1,
              testCount: 1,
            },
          });
        if (msg.type === 'ring') await send({ type: 'ready' });
        if (msg.type === 'save') {
          await send({ type: 'saved', names: ['model.json', '../../escaped.txt'] }, [
            new TextEncoder().encode('{}'),
            new TextEncoder().encode('owned'),
          ]);
          return;
        }
      }
    };
    const answered = answer();
    try {
      const group = await RemoteWorkerGroup.rendezvous({
        server,
        worldSize: 1,
        settingsFor: () => ({}) as WorkerSettings,
        version: 'test',
        log,
        rendezvousTimeoutMs: 20_000,
        stepTimeoutMs: 20_000,
        checksumEvery: 50,
      });
      await expect(group.save({ dir: join(runDir, 'model'), meta: {} })).rejects.toThrow(
        /^E_PROTOCOL: rank 0 \(pid 4242\) sent a model file named "\.\.\/\.\.\/escaped\.txt": not one of model\.json, weights\.bin, optimizer\.json, optimizer\.bin, meta\.json; nothing was written/,
      );
      await answered;
      await group.close();
    } finally {
      await fake.close();
      await server.close();
    }
    expect(existsSync(join(root, 'escaped.txt'))).toBe(false);
    expect(readdirSync(root)).toEqual(['run']);
    expect(readdirSync(runDir)).toEqual([]);
  });

  it("makes a worker refuse an ipc:// path outside its run's socket directory, leaving the file there", async () => {
    const sockets = tmp('wire-sockets');
    const victim = join(tmp('wire-victim'), 'precious.txt');
    writeFileSync(victim, 'still here');
    const transport = new ZmqTransport();
    const server = await transport.server(`ipc://${join(sockets, 'control')}`);
    const worker = startCli(['worker', '--join', server.address, '--log-level', 'info'], {
      RANK: '0',
      WORLD_SIZE: '1',
      TFJS_DDP_KEY_FILE: '',
    });
    try {
      const join1 = await server.recv(30_000);
      const settings = {
        backend: 'cpu',
        dataDir: data,
        dataAddress: `ipc://${victim}`,
        logLevel: 'info',
      } as WorkerSettings;
      await server.send(join1.peer, encodeControl({ type: 'welcome', rank: 0, worldSize: 1, settings }));
      const reply = decodeControl((await server.recv(30_000)).frames).msg as {
        type: string;
        code?: string;
        message?: string;
      };
      expect(reply).toMatchObject({ type: 'error', code: 'E_PROTOCOL' });
      expect(reply.message).toContain(
        `asked this worker to bind ipc://${victim}: not a ring-N socket in the run's socket directory ${sockets}`,
      );
      const exit = await worker.exit;
      expect(exit.code).toBe(1);
      expect(exit.stderr + exit.stdout).toContain(
        `not a ring-N socket in the run's socket directory ${sockets}`,
      );
    } finally {
      await server.close();
    }
    expect(readFileSync(victim, 'utf8')).toBe('still here');
  });

  it('drops whoever sends frames over the limits to a live run, which ends as an undisturbed one does', async () => {
    const listen = `tcp://127.0.0.1:${await freePort()}`;
    const runDir = join(tmp('wire-limits'), 'r');
    const common = ['--data-dir', data, '--verify-data', 'false', '--resize', '96', '--backend', 'wasm'];
    const coordinator = startCli([
      'coordinator',
      '--listen',
      listen,
      '--world-size',
      '2',
      ...common,
      '--batch-size',
      '20',
      '--micro-batch',
      '10',
      '--epochs',
      '1',
      '--max-steps',
      '6',
      '--join-timeout',
      '120',
      '--run-dir',
      runDir,
    ]);
    const workers = [0, 1].map((rank) =>
      startCli(['worker', '--join', listen], {
        RANK: String(rank),
        WORLD_SIZE: '2',
        LOCAL_RANK: String(rank),
        TFJS_DDP_KEY_FILE: '',
        // Slow steps (the wasm kernels at 96×96): the frames must arrive while the run still runs,
        // and with the native kernels 6 steps at 32×32 end within a second.
        TFJS_DDP_CPU_KERNELS: 'wasm',
      }),
    );
    await coordinator.waitForLine(/"type":"step"/, 120_000);
    const rendezvous = readJsonLines(join(runDir, 'train.log')).find((l) => l['msg'] === 'rendezvous done')!;
    const rings = (rendezvous['workers'] as { dataAddress: string }[]).map((w) => w.dataAddress);
    // One oversize frame to the coordinator and to each ring inbox; each sender must be dropped.
    const intruders = [listen, ...rings].map((address, i) => {
      const s =
        i === 0
          ? new Dealer({ linger: 0, reconnectInterval: 60_000 })
          : new Push({ linger: 0, reconnectInterval: 60_000, sendTimeout: 0 });
      const dropped = new Promise<void>((resolve) => s.events.on('disconnect', () => resolve()));
      s.connect(address);
      const limit = i === 0 ? MAX_CONTROL_FRAME_BYTES : MAX_DATA_FRAME_BYTES;
      void s
        .send(
          i === 0
            ? [Buffer.alloc(limit + WIRE_MARGIN_BYTES + 1, 0x7b)]
            : [Buffer.from('TDDP'), Buffer.alloc(limit + WIRE_MARGIN_BYTES + 1)],
        )
        .catch(() => undefined);
      return { s, dropped };
    });
    await Promise.all(intruders.map((x) => x.dropped));
    for (const x of intruders) x.s.close();
    const c = await coordinator.exit;
    const w = await Promise.all(workers.map((x) => x.exit));
    expect(c.code, c.stderr).toBe(0);
    expect(w.map((x) => x.code)).toEqual([0, 0]);
    const summary = readJson(join(runDir, 'summary.json'));
    expect(summary['steps']).toBe(6);
    // The oversize frame never reached tfjs-ddp's decoder; the coordinator counted the dropped peer.
    expect(summary['rejected_frames']).toBe(0);
    const closed = readJsonLines(join(runDir, 'train.log')).filter(
      (l) => typeof l['closedConnections'] === 'number',
    );
    expect(closed.length).toBeGreaterThanOrEqual(1);
    // The saved model (weights.bin > 1 MiB: split into control frames and joined) is whole.
    const model = readJson<{ weightsManifest: { weights: { shape: number[] }[] }[] }>(
      join(runDir, 'model', 'model.json'),
    );
    const floats = model.weightsManifest[0]!.weights.reduce(
      (n, x) => n + x.shape.reduce((a, b) => a * b, 1),
      0,
    );
    expect(readFileSync(join(runDir, 'model', 'weights.bin')).byteLength).toBe(floats * 4);
    expect(floats * 4).toBeGreaterThan(MAX_CONTROL_FRAME_BYTES);
  });
});
