// A scripted peer of the control plane, for RemoteWorkerGroup's specs: it speaks the worker's side of
// the protocol (join → hello → ready, state, steps, pings, probes, aborts) over a transport's client,
// answering each request as the real worker does, with behaviours a test can change (a wrong state
// digest, silence in a step). Not exported by the package: a test double for the other end of the
// wire; the group under test is the product's.
import {
  decodeControl,
  digestOfState,
  encodeControl,
  type Client,
  type CoordinatorToWorker,
  type StepPhase,
  type Transport,
  type WorkerToCoordinator,
} from '@tfjs-ddp/core';

export interface ScriptedWorkerOptions {
  requestedRank: number;
  /** The package version it joins with. */
  version: string;
  /** Its weights (float32), sent on export-state. */
  weights?: Float32Array;
  /** Answers load-state with another state digest than that of what it got (a slot lost in a transfer). */
  loseSlots?: boolean;
  /** Never answers a step (a hung rank); still answers pings while `answersPings`. */
  hangsInStep?: boolean;
  answersPings?: boolean;
  /** From this request on it answers nothing, pings included (a process SIGKILLed, or its host gone). */
  vanishAt?: CoordinatorToWorker['type'];
}

export class ScriptedWorker {
  readonly received: CoordinatorToWorker[] = [];
  private weights: Float32Array;
  private batchNorm = new Float32Array([0.25]);
  private slots: { name: string; shape: number[]; data: Float32Array }[] = [
    { name: 'w/m', shape: [3], data: new Float32Array([0.1, 0.2, 0.3]) },
  ];
  private where: { step: number | null; phase: StepPhase } = { step: null, phase: 'idle' };
  private stopped = false;
  private vanished = false;
  readonly done: Promise<void>;

  private constructor(
    private readonly client: Client,
    private readonly o: ScriptedWorkerOptions,
  ) {
    this.weights = o.weights ?? new Float32Array([1, 2, 3]);
    this.done = this.loop();
  }

  static async join(
    transport: Transport,
    address: string,
    o: ScriptedWorkerOptions,
  ): Promise<ScriptedWorker> {
    const client = await transport.client(address);
    await client.send(
      encodeControl({
        type: 'join',
        version: o.version,
        pid: 1000 + o.requestedRank,
        host: 'spec',
        requestedRank: o.requestedRank,
        localRank: o.requestedRank,
      }),
    );
    return new ScriptedWorker(client, o);
  }

  stop(): Promise<void> {
    this.stopped = true;
    return this.client.close();
  }

  private send(m: WorkerToCoordinator, binary: Uint8Array[] = []): Promise<void> {
    return this.client.send(encodeControl(m, binary));
  }

  private async loop(): Promise<void> {
    const bytes = (f: Float32Array) =>
      new Uint8Array(f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength));
    const floats = (b: Uint8Array) => new Float32Array(Uint8Array.from(b).buffer);
    while (!this.stopped) {
      let frames;
      try {
        frames = await this.client.recv(100);
      } catch {
        continue;
      }
      const { msg, binary } = decodeControl<CoordinatorToWorker>(frames);
      this.received.push(msg);
      if (msg.type === 'stop') return;
      if (msg.type === this.o.vanishAt) this.vanished = true;
      if (this.vanished) continue;
      if (msg.type === 'ping' || msg.type === 'probe') {
        if (this.o.answersPings !== false) await this.send({ type: 'progress', ...this.where });
      } else if (msg.type === 'welcome') {
        await this.send({
          type: 'hello',
          dataAddress: `inproc://ring-${msg.rank}`,
          description: {
            pid: 1000 + msg.rank,
            host: 'spec',
            backend: 'cpu',
            device: 'cpu',
            adapter: null,
            params: 3,
            weightsHash: 'h',
            microBatch: 4,
            memoryFit: null,
            trainCount: 100,
            testCount: 10,
          },
        });
      } else if (msg.type === 'ring') {
        await this.send({ type: 'ready' });
      } else if (msg.type === 'clock') {
        await this.send({ type: 'clock', now: performance.now() });
      } else if (msg.type === 'export-state') {
        await this.send(
          {
            type: 'state',
            optimizer: this.slots.map((s) => ({ name: s.name, shape: s.shape })),
            checksum: checksumOf(this.weights),
          },
          [bytes(this.weights), bytes(this.batchNorm), ...this.slots.map((s) => bytes(s.data))],
        );
      } else if (msg.type === 'load-state') {
        this.weights = floats(binary[0]!);
        this.batchNorm = floats(binary[1]!);
        this.slots = msg.optimizer.map((s, i) => ({ ...s, data: floats(binary[2 + i]!) }));
        const held =
          this.o.loseSlots === true
            ? { weights: this.weights, batchNorm: this.batchNorm, optimizer: [] }
            : { weights: this.weights, batchNorm: this.batchNorm, optimizer: this.slots };
        await this.send({
          type: 'state-loaded',
          checksum: checksumOf(this.weights),
          stateDigest: digestOfState(held),
        });
      } else if (msg.type === 'step') {
        this.where = { step: msg.step, phase: 'compute' };
        if (this.o.hangsInStep === true) continue;
        this.where = { step: msg.step, phase: 'idle' };
        await this.send({
          type: 'step-done',
          step: msg.step,
          lossSum: 1,
          correct: 2,
          count: msg.microBatch,
          timings: {
            rank: this.o.requestedRank,
            dataMs: 1,
            computeMs: 2,
            allreduceMs: 3,
            applyMs: 4,
            microBatches: 1,
          },
          checksum: msg.checksum ? checksumOf(this.weights) : null,
          aborted: false,
          skipped: false,
          oom: null,
        });
      } else if (msg.type === 'abort') {
        await this.send({
          type: 'left',
          step: msg.step,
          applied: false,
          dataAddress: `inproc://ring-${this.o.requestedRank}-again`,
        });
      }
    }
  }
}

/** A stand-in for the engine's weight checksum: the same weights give the same string. */
function checksumOf(w: Float32Array): string {
  return Array.from(w).join(',');
}
