// How a training run shows itself: on a TTY, a cli-progress bar per epoch (samples, samples/s, loss,
// ETA) and one readable line per epoch; anywhere else (CI, pipes), no bar and one JSON object per
// line, with snake_case keys like every document tfjs-ddp writes. Fed with the coordinator's
// TrainEvents (camelCase, as TypeScript has them) by the train command.
import { SingleBar } from 'cli-progress';
import type { TrainEvent } from '@tfjs-ddp/coordinator';

export interface ProgressSink {
  event(e: TrainEvent): void;
  stop(): void;
}

type Writable = { write(chunk: string): unknown };

/** samplesPerS → samples_per_s, inARow → in_a_row. */
const snakeCase = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * An event as its JSON line has it: the TrainEvent's fields in order with snake_case keys
 * (steps_per_epoch, samples_per_s, old_micro_batch, world_size…), without the start event's workers
 * (metrics.jsonl has them).
 */
export function progressLine(e: TrainEvent): Record<string, unknown> {
  const { workers: _w, ...rest } = e as TrainEvent & { workers?: unknown };
  return Object.fromEntries(Object.entries(rest).map(([k, v]) => [snakeCase(k), v]));
}

export function jsonLinesProgress(out: Writable): ProgressSink {
  return {
    event: (e) => {
      out.write(`${JSON.stringify(progressLine(e))}\n`);
    },
    stop: () => undefined,
  };
}

export function ttyProgress(stream: NodeJS.WriteStream): ProgressSink {
  let bar: SingleBar | null = null;
  let epochs = 0;
  let trainCount = 0;
  const fmt = (n: number, d = 3) => n.toFixed(d);
  const close = () => {
    bar?.stop();
    bar = null;
  };
  return {
    event: (e) => {
      switch (e.type) {
        case 'start':
          epochs = e.epochs;
          trainCount = e.trainCount;
          stream.write(`training on ${e.workers.length} worker(s), ${e.workers[0]?.backend} backend; ${e.stepsPerEpoch} steps per epoch\n`);
          break;
        case 'step':
          if (bar === null) {
            bar = new SingleBar(
              {
                stream,
                format: `epoch ${e.epoch}/${epochs} [{bar}] {value}/{total} samples | {sps} samples/s | loss {loss} | ETA {eta_formatted}`,
                hideCursor: true,
                clearOnComplete: true,
                etaBuffer: 20,
              },
            );
            bar.start(trainCount, 0, { sps: '-', loss: '-' });
          }
          bar.update(e.samples, { sps: e.samplesPerS.toFixed(1), loss: fmt(e.loss) });
          break;
        case 'epoch':
          close();
          stream.write(
            `epoch ${e.epoch}/${epochs}: train loss ${fmt(e.trainLoss)}, train acc ${fmt(e.trainAcc)}, test acc ${fmt(e.testAcc)}, ` +
              `${e.samplesPerS.toFixed(1)} samples/s, ${e.wallS.toFixed(0)} s elapsed\n`,
          );
          break;
        case 'oom':
          stream.write(`\nstep ${e.step}: rank ${e.rank} out of memory at micro-batch ${e.oldMicroBatch}; replaying with ${e.newMicroBatch} × ${e.accumulation} (${e.reason})\n`);
          break;
        case 'restart':
          stream.write(`\nstep ${e.step}: rank ${e.rank} (pid ${e.oldPid}) ${e.cause}; replaced by pid ${e.newPid}\n`);
          break;
        case 'membership':
          stream.write(`\nstep ${e.step}: ${e.kind === 'shrink' ? 'going on without lost workers' : 'workers joined'}: ${e.worldSize} now\n`);
          break;
        case 'skipped':
          stream.write(`\nstep ${e.step}: non-finite gradient, step skipped on every rank (${e.inARow} in a row)\n`);
          break;
        case 'stopped':
          close();
          break;
      }
    },
    stop: close,
  };
}
