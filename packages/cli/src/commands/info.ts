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
import { backendFlag } from '../backend-flag';
import { defineCommand } from '../command';
import { gpuEnv, gpuPlan, workerCount } from '../groups';
import { DEFAULT_TRAIN_CONFIG } from '@tfjs-ddp/core';
import type { CliIo } from '../command';
import { CLI_VERSION } from '../version';

/** The `--json` output: one object, with snake_case keys like summary.json and `runs --json`. */
export interface InfoReport {
  version: string;
  node: string;
  platform: string;
  backend: {
    requested: BackendInfo['requested'];
    chosen: BackendInfo['chosen'];
    tf_backend: string;
    device: BackendInfo['device'];
    /** webgpu: the adapter this process runs on; null on the other backends. */
    adapter: {
      vendor: string;
      architecture: string;
      device: string;
      description: string;
      software: boolean;
      max_buffer_size: number;
      max_storage_buffer_binding_size: number;
      /** WebGPU's shader-f16: what TFJS_DDP_WEBGPU_F16=1 needs. */
      shader_f16: boolean;
      /** The subgroup-matrix shape of TFJS_DDP_WEBGPU_CONV=mma, when it is on; else null. */
      subgroup_matrix: string | null;
      selection: string | null;
    } | null;
    fast_kernels: string[];
    /** Whose convolutions run: 'onednn' (the native addon, on wasm) or 'builtin', and why. */
    native_kernels: { provider: BackendInfo['nativeKernels']['provider']; why: string; kernels: string[]; simd: string[] };
    skipped: BackendInfo['skipped'];
  };
  /** Where `train` with this backend would put each local rank (GPU index, PCI address, environment). */
  local_ranks: { rank: number; gpu: number | null; bus_id: string | null; env: Record<string, string> }[];
  /** The ring all-reduce's ZeroMQ data plane: 'native (libzmq 4.3.4)', or 'zeromq.js (why not native)'. */
  data_plane: string;
  data:
    | {
        ok: true;
        source: string;
        origin: FashionMnist['origin'] | 'TFJS_DDP_DATA_DIR' | 'TFJS_DDP_DATA';
        train: number;
        test: number;
      }
    | { ok: false; error: { code: DdpErrorCode; message: string } };
  model: { name: 'densenet'; trainable_params: number; input_shape: [number, number, number]; classes: number };
}

export const infoCommand = defineCommand({
  name: 'info',
  summary: 'Show the backend, dataset and model this machine would train with',
  description: [
    'Selects the TensorFlow.js backend as training would (auto: tfjs-node-gpu if it really uses a GPU,',
    'then webgpu on a hardware adapter, tfjs-node, wasm, cpu) and says why better ones were skipped; shows',
    'the WebGPU adapter and which GPU each local rank would use; finds Fashion-MNIST (--data-dir,',
    'TFJS_DDP_DATA_DIR or TFJS_DDP_DATA, the user cache, the Debian package dataset-fashion-mnist)',
    'and verifies its SHA-256 without downloading anything; builds the DenseNet and counts its',
    'trainable parameters.',
    'Exits 1 when the dataset is missing or damaged.',
  ].join('\n'),
  options: {
    backend: {
      type: 'string',
      valueName: 'NAME',
      description: 'Backend to select (default: env TFJS_DDP_BACKEND, else auto)',
      choices: BACKEND_CHOICES,
    },
    'data-dir': {
      type: 'string',
      valueName: 'DIR',
      description:
        'Directory with the 4 Fashion-MNIST IDX files, .gz or not (default: env TFJS_DDP_DATA_DIR or TFJS_DDP_DATA, then the search)',
    },
    json: { type: 'boolean', description: 'Print one JSON object instead of text' },
  },
  async run(values, io) {
    const report = await collectInfo(backendFlag(values.backend, io.env), values['data-dir'], io.env);
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
    backend: backendJson(backendInfo),
    local_ranks: localRanks(backend),
    data_plane: describeDataPlane(),
    data,
    model: {
      name: 'densenet',
      trainable_params: trainableParams,
      input_shape: [args.inputSize, args.inputSize, args.inputChannels],
      classes: args.numClasses,
    },
  };
}

function backendJson(b: BackendInfo): InfoReport['backend'] {
  const a = b.adapter;
  return {
    requested: b.requested,
    chosen: b.chosen,
    tf_backend: b.tfBackend,
    device: b.device,
    adapter:
      a === null
        ? null
        : {
            vendor: a.vendor,
            architecture: a.architecture,
            device: a.device,
            description: a.description,
            software: a.software,
            max_buffer_size: a.maxBufferSize,
            max_storage_buffer_binding_size: a.maxStorageBufferBindingSize,
            shader_f16: a.shaderF16,
            subgroup_matrix: a.subgroupMatrix,
            selection: a.selection,
          },
    fast_kernels: b.fastKernels,
    native_kernels: { provider: b.nativeKernels.provider, why: b.nativeKernels.why, kernels: b.nativeKernels.kernels, simd: b.nativeKernels.simd },
    skipped: b.skipped,
  };
}

function localRanks(backend: BackendInfo['requested']): InfoReport['local_ranks'] {
  const config = { ...DEFAULT_TRAIN_CONFIG, backend };
  const gpus = gpuPlan(config);
  if (gpus === null) return Array.from({ length: workerCount(config) }, (_, rank) => ({ rank, gpu: null, bus_id: null, env: {} }));
  return gpus.map((g, rank) => ({ rank, gpu: g.index, bus_id: g.busId === '' ? null : g.busId, env: gpuEnv(g) }));
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
      ds.origin === 'data-dir' && explicit !== undefined && explicit.from !== '--data-dir' ? explicit.from : ds.origin;
    return { ok: true, source: ds.source, origin, train: ds.train.count, test: ds.test.count };
  } catch (e) {
    if (!isDdpError(e)) throw e;
    return { ok: false, error: { code: e.code, message: e.message } };
  }
}

const ORIGIN_TEXT: Record<Extract<InfoReport['data'], { ok: true }>['origin'], string> = {
  'data-dir': 'from --data-dir',
  TFJS_DDP_DATA_DIR: 'from TFJS_DDP_DATA_DIR',
  TFJS_DDP_DATA: 'from TFJS_DDP_DATA',
  cache: 'user cache',
  debian: 'Debian package dataset-fashion-mnist',
  download: 'downloaded',
};

function formatInfo(r: InfoReport): string {
  const b = r.backend;
  const kernels = b.fast_kernels.length > 0 ? `; fast kernels ${b.fast_kernels.join(', ')}` : '';
  const lines = [
    `tfjs-ddp ${r.version} (node ${r.node}, ${r.platform})`,
    `backend: ${b.chosen} on ${b.device} (requested ${b.requested}${kernels})`,
    ...b.skipped.map((s) => `  skipped ${s.backend}: ${s.reason}`),
    b.native_kernels.provider === 'onednn'
      ? `native:  ${b.native_kernels.why}: ${b.native_kernels.kernels.join(', ')}`
      : `native:  none, ${b.chosen}'s own kernels (${b.native_kernels.why})${b.native_kernels.simd.length > 0 ? `; WebAssembly SIMD: ${b.native_kernels.simd.join(', ')}` : ''}`,
    ...(b.adapter === null
      ? []
      : [
          `adapter: ${b.adapter.vendor} ${b.adapter.architecture}: ${b.adapter.description}${b.adapter.software ? ' (software, on the CPU)' : ''}`,
          `  maxBufferSize ${b.adapter.max_buffer_size}, maxStorageBufferBindingSize ${b.adapter.max_storage_buffer_binding_size}, shader-f16 ${b.adapter.shader_f16 ? 'yes' : 'no'}${b.adapter.subgroup_matrix !== null ? `, subgroup matrices ${b.adapter.subgroup_matrix}` : ''}${b.adapter.selection !== null ? `, selected by DRI_PRIME=${b.adapter.selection}` : ''}`,
        ]),
    `ranks:   ${r.local_ranks.length} local worker${r.local_ranks.length === 1 ? '' : 's'} by default${r.local_ranks.some((l) => l.gpu !== null) ? ': ' + r.local_ranks.map((l) => `rank ${l.rank} → GPU ${l.gpu}${l.bus_id !== null ? ` (${l.bus_id}${l.env['DRI_PRIME'] !== undefined ? `, DRI_PRIME=${l.env['DRI_PRIME']}` : ''})` : ''}`).join(', ') : ''}`,
    `all-reduce: ZeroMQ, ${r.data_plane}`,
    r.data.ok
      ? `data:    ${r.data.source} (${ORIGIN_TEXT[r.data.origin]}): ${r.data.train} train + ${r.data.test} test images, SHA-256 verified`
      : `data:    unavailable (${r.data.error.code}, see below)`,
    `model:   DenseNet, ${r.model.trainable_params.toLocaleString('en-US')} trainable parameters, ` +
      `input ${r.model.input_shape.join('×')}, ${r.model.classes} classes`,
  ];
  return `${lines.join('\n')}\n`;
}
