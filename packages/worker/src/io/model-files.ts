// Model files: save a LayersModel as the standard TensorFlow.js layers format (model.json +
// weights.bin, readable by plain tf.loadLayersModel with a file IOHandler such as fileModelLoader
// below or tfjs-node's file://), and the optimizer state beside it. Writes go to a temporary
// directory renamed into place, so a crash never leaves a half-written model that looks complete.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeDirAtomically } from '@tfjs-ddp/core';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { optimizerWeights } from '../train/optimizer-slots';

function joinWeightData(data: tf.io.WeightData): ArrayBuffer {
  return Array.isArray(data) ? tf.io.CompositeArrayBuffer.join(data) : (data as ArrayBuffer);
}

interface OptimizerSpec {
  name: string;
  shape: number[];
  dtype: string;
}

/**
 * The files of a saved model: model.json + weights.bin, and when given, the optimizer's state
 * (optimizer.json + optimizer.bin) and `meta` (meta.json). Workers send these to the coordinator,
 * which writes them (saveModelDir writes them locally).
 */
export async function modelFiles(
  model: tfl.LayersModel,
  opts: { optimizer?: tf.Optimizer; meta?: Record<string, unknown> } = {},
): Promise<Record<string, string | Uint8Array>> {
  const files: Record<string, string | Uint8Array> = {};
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      files['weights.bin'] = new Uint8Array(joinWeightData(artifacts.weightData!));
      const modelJson = {
        format: 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_core}`,
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
      };
      files['model.json'] = JSON.stringify(modelJson);
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  if (opts.optimizer) {
    const weights = await optimizerWeights(opts.optimizer);
    const specs: OptimizerSpec[] = weights.map((w) => ({ name: w.name, shape: w.tensor.shape, dtype: w.tensor.dtype }));
    const parts = await Promise.all(weights.map(async (w) => new Uint8Array(((await w.tensor.data()) as Float32Array).slice().buffer)));
    const bin = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((off, p) => (bin.set(p, off), off + p.length), 0);
    files['optimizer.json'] = JSON.stringify({ className: opts.optimizer.getClassName(), config: opts.optimizer.getConfig(), weights: specs });
    files['optimizer.bin'] = bin;
  }
  if (opts.meta) files['meta.json'] = JSON.stringify(opts.meta, null, 2);
  return files;
}

/** Saves modelFiles(model, opts) into `dir`, replacing it atomically. Returns the paths. */
export async function saveModelDir(
  model: tfl.LayersModel,
  dir: string,
  opts: { optimizer?: tf.Optimizer; meta?: Record<string, unknown> } = {},
): Promise<string[]> {
  return writeDirAtomically(dir, await modelFiles(model, opts));
}

/** An IOHandler that loads a model saved by saveModelDir: `tf.loadLayersModel(fileModelLoader(dir))`. */
export function fileModelLoader(dir: string): tf.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as {
        modelTopology: object;
        format?: string;
        generatedBy?: string;
        convertedBy?: string | null;
        weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
      };
      const buffers: ArrayBuffer[] = [];
      const specs: tf.io.WeightsManifestEntry[] = [];
      for (const group of json.weightsManifest) {
        specs.push(...group.weights);
        for (const p of group.paths) {
          const b = readFileSync(join(dir, p));
          buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
        }
      }
      return {
        modelTopology: json.modelTopology,
        weightSpecs: specs,
        weightData: tf.io.CompositeArrayBuffer.join(buffers),
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy ?? undefined,
      };
    },
  };
}
