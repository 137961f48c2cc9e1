// `tfjs-ddp info`: what this machine would train with. Selects the backend (saying why better ones
// were skipped), finds and verifies Fashion-MNIST without downloading it, and builds the DenseNet to
// count its parameters. Exit 0 when everything is usable, the data error's exit code (1) when not.

import { isDdpError } from '@tfjs-ddp/core';
import type { DdpErrorCode } from '@tfjs-ddp/core';
import { nativeDataPlane } from '@tfjs-ddp/core/zmq';
import { loadFashionMnist, resolveDataSources } from '@tfjs-ddp/data';
import type { FashionMnist } from '@tfjs-ddp/data';
import {
  BACKEND_CHOICES,
  buildDenseNet,
  resolveDenseNetArgs,
  selectBackend,
  trainableParamCount,
} from '@tfjs-ddp/worker';
import type { BackendInfo } from '@tfjs-ddp/worker';
import { defineCommand } from '../command';
import { gpuEnv, gpuPlan, workerCount } from '../groups';
import { DEFAULT_TRAIN_CONFIG } from '@tfjs-ddp/core';
import type { CliIo } from '../command';
import { CLI_VERSION } from '../version';

/** The `--json` output: one object. */
export interface InfoReport {
  version: string;
  node: string;
  platform: string;
  backend: BackendInfo;
  /** Where `train` with this backend would put each local rank (GPU index, PCI address, environment). */
  localRanks: { rank: number; gpu: number | null; busId: string | null; env: Record<string, string> }[];
  /** The ring all-reduce's ZeroMQ data plane: 'native (libzmq 4.3.4)', or 'zeromq.js (why not native)'. */
  dataPlane: string;
  data:
    | {
        ok: true;
        source: string;
        origin: FashionMnist['origin'] | 'TFJS_DDP_DATA';
        train: number;
        test: number;
      }
    | { ok: false; error: { code: DdpErrorCode; message: string } };
  model: { name: 'densenet'; trainableParams: number; inputShape: [number, number, number]; classes: number };
}

export const infoCommand = defineCommand({
  name: 'info',
  summary: 'Show the backend, dataset and model this machine would train with',
  description: [
    'Selects the TensorFlow.js backend as training would (auto: tfjs-node-gpu if it really uses a GPU,',
    'then webgpu on a hardware adapter, tfjs-node, wasm, cpu) and says why better ones were skipped; shows',
    'the WebGPU adapter and which GPU each local rank would use; finds Fashion-MNIST (--data-dir or',
    'TFJS_DDP_DATA, the user cache, the Debian package dataset-fashion-mnist) and verifies its SHA-256',
    'without downloading anything; builds the DenseNet and counts its trainable parameters.',
    'Exits 1 when the dataset is missing or damaged.',
  ].join('\n'),
  options: {
    backend: {
      type: 'string',
      valueName: 'NAME',
      description: 'Backend to select',
      choices: BACKEND_CHOICES,
      default: 'auto',
    },
    'data-dir': {
      type: 'string',
      valueName: 'DIR',
      description:
        'Directory with the 4 Fashion-MNIST IDX files, .gz or not (default: env TFJS_DDP_DATA, then the search)',
    },
    json: { type: 'boolean', description: 'Print one JSON object instead of text' },
  },
  async run(values, io) {
    const report = await collectInfo(values.backend, values['data-dir'], io.env);
    if (values.json) io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else io.stdout.write(formatInfo(report));
    if (report.data.ok) return 0;
    io.stderr.write(`tfjs-ddp: ${report.data.error.message}\n`);
    return 1;
  },
});

async function collectInfo(
  backend: BackendInfo['requested'],
  dataDir: string | undefined,
  env: CliIo['env'],
): Promise<InfoReport> {
  // Backend first: the model is built on it. A backend that cannot run is fatal (thrown to cli.ts).
  const backendInfo = await selectBackend(backend);
  const data = await findData(dataDir, env);
  const args = resolveDenseNetArgs();
  const model = buildDenseNet(args);
  const trainableParams = trainableParamCount(model);
  model.dispose();
  return {
    version: CLI_VERSION,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    backend: backendInfo,
    localRanks: localRanks(backend),
    dataPlane: describeDataPlane(),
    data,
    model: {
      name: 'densenet',
      trainableParams,
      inputShape: [args.inputSize, args.inputSize, args.inputChannels],
      classes: args.numClasses,
    },
  };
}

function localRanks(backend: BackendInfo['requested']): InfoReport['localRanks'] {
  const config = { ...DEFAULT_TRAIN_CONFIG, backend };
  const gpus = gpuPlan(config);
  if (gpus === null) return Array.from({ length: workerCount(config) }, (_, rank) => ({ rank, gpu: null, busId: null, env: {} }));
  return gpus.map((g, rank) => ({ rank, gpu: g.index, busId: g.busId === '' ? null : g.busId, env: gpuEnv(g) }));
}

function describeDataPlane(): string {
  const { binding, why } = nativeDataPlane();
  return binding ? why : `zeromq.js (${why})`;
}

async function findData(dataDir: string | undefined, env: CliIo['env']): Promise<InfoReport['data']> {
  try {
    // download: false — info reports what is there; it never fetches 30 MB as a side effect.
    const ds = await loadFashionMnist({
      ...(dataDir !== undefined ? { dataDir } : {}),
      env,
      download: false,
    });
    const explicit = resolveDataSources({ ...(dataDir !== undefined ? { dataDir } : {}), env }).explicit;
    const origin =
      ds.origin === 'data-dir' && explicit?.from === 'TFJS_DDP_DATA' ? 'TFJS_DDP_DATA' : ds.origin;
    return { ok: true, source: ds.source, origin, train: ds.train.count, test: ds.test.count };
  } catch (e) {
    if (!isDdpError(e)) throw e;
    return { ok: false, error: { code: e.code, message: e.message } };
  }
}

const ORIGIN_TEXT: Record<Extract<InfoReport['data'], { ok: true }>['origin'], string> = {
  'data-dir': 'from --data-dir',
  TFJS_DDP_DATA: 'from TFJS_DDP_DATA',
  cache: 'user cache',
  debian: 'Debian package dataset-fashion-mnist',
  download: 'downloaded',
};

function formatInfo(r: InfoReport): string {
  const b = r.backend;
  const kernels = b.fastKernels.length > 0 ? `; fast kernels ${b.fastKernels.join(', ')}` : '';
  const lines = [
    `tfjs-ddp ${r.version} (node ${r.node}, ${r.platform})`,
    `backend: ${b.chosen} on ${b.device} (requested ${b.requested}${kernels})`,
    ...b.skipped.map((s) => `  skipped ${s.backend}: ${s.reason}`),
    ...(b.adapter === null
      ? []
      : [
          `adapter: ${b.adapter.vendor} ${b.adapter.architecture}: ${b.adapter.description}${b.adapter.software ? ' (software, on the CPU)' : ''}`,
          `  maxBufferSize ${b.adapter.maxBufferSize}, maxStorageBufferBindingSize ${b.adapter.maxStorageBufferBindingSize}${b.adapter.selection !== null ? `, selected by DRI_PRIME=${b.adapter.selection}` : ''}`,
        ]),
    `ranks:   ${r.localRanks.length} local worker${r.localRanks.length === 1 ? '' : 's'} by default${r.localRanks.some((l) => l.gpu !== null) ? ': ' + r.localRanks.map((l) => `rank ${l.rank} → GPU ${l.gpu}${l.busId !== null ? ` (${l.busId}${l.env['DRI_PRIME'] !== undefined ? `, DRI_PRIME=${l.env['DRI_PRIME']}` : ''})` : ''}`).join(', ') : ''}`,
    `all-reduce: ZeroMQ, ${r.dataPlane}`,
    r.data.ok
      ? `data:    ${r.data.source} (${ORIGIN_TEXT[r.data.origin]}): ${r.data.train} train + ${r.data.test} test images, SHA-256 verified`
      : `data:    unavailable (${r.data.error.code}, see below)`,
    `model:   DenseNet, ${r.model.trainableParams.toLocaleString('en-US')} trainable parameters, ` +
      `input ${r.model.inputShape.join('×')}, ${r.model.classes} classes`,
  ];
  return `${lines.join('\n')}\n`;
}
